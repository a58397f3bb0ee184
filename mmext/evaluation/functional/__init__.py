
from .multilabel import *  # noqa: F401,F403
