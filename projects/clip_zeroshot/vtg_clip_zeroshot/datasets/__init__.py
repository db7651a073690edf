from .transforms import PackZeroShotInputs

__all__ = ['PackZeroShotInputs']
