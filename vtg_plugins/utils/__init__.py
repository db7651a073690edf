from .projects import import_projects, list_projects
from .env import collect_env

__all__ = ['list_projects', 'import_projects', 'collect_env']
