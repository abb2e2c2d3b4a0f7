"""The one error type the suite raises for bad input: it names the file, the field and the fix."""

from __future__ import annotations


class SuiteInputError(ValueError):
    """Bad user input (config, task file, data file, entry). Printed as one line by the CLI."""

    def __init__(self, file: str | None, field: str | None, problem: str, fix: str | None = None) -> None:
        self.file, self.field, self.problem, self.fix = file, field, problem, fix
        parts = []
        if file:
            parts.append(str(file))
        if field:
            parts.append(f"field '{field}'")
        where = ": ".join(parts)
        message = f"{where}: {problem}" if where else problem
        if fix:
            message += f" — fix: {fix}"
        super().__init__(message)


def exception_line(exc: BaseException, empty: str = "") -> str:
    """An exception as one line, `Type: first line of its message`: the reason a failed row or job records.

    >>> exception_line(ValueError("bad shape\\nsecond line")), exception_line(MemoryError())
    ('ValueError: bad shape', 'MemoryError: ')
    """
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0] if lines else empty}"
