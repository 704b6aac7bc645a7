"""The languages the recognition detector reads besides English, one module each: their
names for the Taliban government and the words for recognising it (see base.Language).
PURE. ``normalise`` folds each script's spelling; multilingual.py runs the rules.
"""

from __future__ import annotations

from monitor.classify.languages import ar, fa, ps, ru, ur, zh
from monitor.classify.languages.base import Language

LANGUAGES: dict[str, Language] = {
    spec.code: spec for spec in (ru.LANGUAGE, zh.LANGUAGE, fa.LANGUAGE, ps.LANGUAGE,
                                 ur.LANGUAGE, ar.LANGUAGE)}

__all__ = ["LANGUAGES", "Language"]
