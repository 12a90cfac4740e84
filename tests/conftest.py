# pytester runs the plugin's tests in-process and restores sys.modules afterwards;
# import the heavy libraries first so that restoring cannot leave them half-imported.
import scipy.special  # noqa: F401
import sympy  # noqa: F401
import torch  # noqa: F401

pytest_plugins = ["pytester"]
