"""Import this module to run aiomas 2.0.1's `ExternalClock` with arrow 0.14+.

`ExternalClock.utcnow()` is `utc_start.replace(seconds=time)`: with the
arrow of aiomas's time, `replace()` with a plural unit shifted the date (the
old spelling of `shift()`); arrow 0.14 removed that, and the call raises
`ValueError: Unknown attribute: 'seconds'`. This shim gives `replace()` that
behaviour back where it is gone; nothing else of arrow is changed.
"""
import arrow

_PLURAL = {'years', 'quarters', 'months', 'weeks', 'days', 'hours', 'minutes',
           'seconds', 'microseconds'}


def _needed():
    try:
        arrow.Arrow(2016, 1, 1).replace(seconds=1)
        return False
    except (ValueError, TypeError):
        return True


if _needed():
    _replace = arrow.Arrow.replace

    def _replace_or_shift(self, **kwargs):
        shift = {k: kwargs.pop(k) for k in list(kwargs) if k in _PLURAL}
        date = _replace(self, **kwargs) if kwargs else self
        return date.shift(**shift) if shift else date

    arrow.Arrow.replace = _replace_or_shift
