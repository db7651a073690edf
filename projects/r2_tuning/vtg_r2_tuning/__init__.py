"""r2_tuning as a vtg_plugins project: importing it registers its modules."""
import vtg_plugins  # noqa: F401  (registries, upstream fixes)
