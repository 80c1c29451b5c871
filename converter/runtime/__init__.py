"""The kernel side of a runbook notebook: what the generated setup cell loads.

``start()`` validates parameters, opens the journal and registers ``%%step``;
everything else hangs off the :class:`Session` it returns. Importing this
package is cheap: ipywidgets and IPython are imported only when needed.
"""

from .session import Session, start

__all__ = ["Session", "start"]
