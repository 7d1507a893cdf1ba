"""Public alias so users can write ``rmx.errors.DataError``."""

from rmx_widgets.core.errors import (  # noqa: F401
    AttributeSpecError,
    AuthenticationError,
    DataError,
    OptionError,
    OutputBusyError,
    OutputError,
    PerturberError,
    RewardModelError,
    RMXError,
    StoreError,
)
