from .projects import list_projects
from .env import collect_env

__all__ = ['list_projects', 'collect_env']
