"""User-facing errors: the CLI prints the message and exits with status 2 (no traceback)."""


class DPCGANError(Exception):
    """A problem with the user's input or environment, with a message that says what to do."""


class DataError(DPCGANError):
    """Bad, missing or corrupt data files."""


class ConfigError(DPCGANError):
    """An invalid or inconsistent setting (flag, preset, privacy parameter)."""


class PrivacyBudgetError(ConfigError):
    """The requested mechanism cannot meet the requested (epsilon, delta)."""
