"""User-facing errors: the CLI prints the message and exits with status 2 (no traceback)."""


class DPCGANError(Exception):
    """A problem with the user's input or environment, with a message that says what to do."""


class DataError(DPCGANError):
    """Bad, missing or corrupt data files."""


class ConfigError(DPCGANError):
    """An invalid or inconsistent setting (flag, preset, privacy parameter)."""


class PrivacyBudgetError(ConfigError):
    """The requested mechanism cannot meet the requested (epsilon, delta)."""


def one_line(exc: BaseException, limit: int = 240) -> str:
    """A library exception's text on one line (torch's unpickling errors span many), shortened."""
    text = " ".join(str(exc).split())
    return text if len(text) <= limit else text[: limit - 1] + "…"
