from .example_metric import ExampleMomentMetric

__all__ = ['ExampleMomentMetric']
