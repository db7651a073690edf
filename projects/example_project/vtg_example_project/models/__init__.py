from .example_model import ExampleMomentModel

__all__ = ['ExampleMomentModel']
