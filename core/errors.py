"""One root exception; `retryable` tells the dead-letter policy whether a retry can help."""


class SynthguardError(Exception):
    """Root of every error synthguard raises on purpose."""

    retryable: bool = False

    def __init__(self, message: str, *, retryable: bool | None = None) -> None:
        super().__init__(message)
        if retryable is not None:
            self.retryable = retryable

    def __reduce__(self) -> tuple[object, ...]:
        # Media work runs in worker processes and its errors come back pickled; rebuild from
        # the message and attributes so subclasses may take any constructor arguments.
        return (_rebuild, (type(self), str(self), self.__dict__))


def _rebuild(cls: type[SynthguardError], message: str, state: dict[str, object]) -> SynthguardError:
    exc = cls.__new__(cls)
    Exception.__init__(exc, message)
    exc.__dict__.update(state)
    return exc


class ConfigError(SynthguardError):
    """A setting is missing or invalid; raised at start, never mid-stream."""


class DecodeError(SynthguardError):
    """Bytes on a topic are not a valid record of that topic's schema."""


class ValidationError(SynthguardError):
    """A decoded record breaks a rule its schema cannot express."""


class LabelError(SynthguardError):
    """A label cannot be written or read (bad record fields, unknown key id, bad format)."""


class BrokerError(SynthguardError):
    """The broker cannot be started, reached or administered."""

    retryable = True


class MissingDependencyError(SynthguardError):
    """An optional dependency is absent; the message carries the install command."""
