"""Japanese reading order: gojuon for kana, then Latin A–Z, then everything else."""

from __future__ import annotations

import unicodedata

# Katakana U+30A1..U+30F6 sit exactly 0x60 above their hiragana twins.
_KATAKANA_TO_HIRAGANA = {cp: cp - 0x60 for cp in range(0x30A1, 0x30F7)}
# Small kana sort as their full-size letters (ゃ as や, っ as つ).
_SMALL_TO_FULL = str.maketrans("ぁぃぅぇぉっゃゅょゎゕゖ", "あいうえおつやゆよわかけ")
# Voiced and semi-voiced marks, combining (after NFKD) and spacing, plus the long-vowel mark: not sorted on.
_IGNORED = {"\u3099", "\u309a", "\u309b", "\u309c", "ー"}
_KANA, _LATIN, _DIGIT, _OTHER = range(4)


def _hiragana(text: str) -> str:
    """Half-width and katakana to full-width hiragana, Latin case folded."""
    return unicodedata.normalize("NFKC", text or "").casefold().translate(_KATAKANA_TO_HIRAGANA)


def _group(char: str) -> int:
    if "\u3041" <= char <= "\u3096":
        return _KANA
    if "a" <= char <= "z":
        return _LATIN
    if char.isdigit():
        return _DIGIT
    return _OTHER


def _significant(text: str) -> str:
    """Letters and digits only: spaces, punctuation and symbols do not decide the order."""
    return "".join(c for c in text if c not in _IGNORED and unicodedata.category(c)[0] in "LN")


def reading_key(text: str) -> tuple:
    """Sort key putting readings in gojuon order (が as か, ゃ as や, ー ignored), then Latin, then the rest."""
    folded = _hiragana(text)
    # NFKD splits が into か plus a combining mark, which _significant then drops.
    base = _significant(unicodedata.normalize("NFKD", folded)).translate(_SMALL_TO_FULL)
    # Ties (かき / がき) fall back to the unfolded text, so voiced follows plain, and then to the text itself.
    return tuple((_group(c), c) for c in base), _significant(folded), text or ""


# Sort texts hold digits only: every database collation orders digits alike and none joins them into one letter
# (hex would risk "aa" in Danish or "dd" in Welsh). A code point is "1" and five digits, or "2" and seven above
# 99999, so codes keep code point order and none is the start of another; "0" ends a sequence, before any code.
_END = "0"


def _code(char: str) -> str:
    point = ord(char)
    return f"1{point:05d}" if point < 100_000 else f"2{point:07d}"


def _letters_code(letters: tuple) -> str:
    return "".join(f"{group + 1}{_code(char)}" for group, char in letters)


def plain_sort_text(text: str) -> str:
    """Digits whose order, compared as plain strings, is the order of `text` compared by code point."""
    return "".join(map(_code, text)) + _END


def reading_sort_text(text: str) -> str:
    """Digits whose order, compared as plain strings in any collation, is the order of reading_key(text)."""
    letters, significant, raw = reading_key(text)
    return _letters_code(letters) + _END + plain_sort_text(significant) + plain_sort_text(raw)


def reading_prefix_text(text: str) -> str:
    """The start shared by the reading_sort_text of every text whose reading begins with the reading of `text`."""
    return _letters_code(reading_key(text)[0])
