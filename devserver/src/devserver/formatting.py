"""Telegram's text formatting: parse_mode markup into plain text and entities, and detected entities.

Telegram answers "can't parse entities" for markup it cannot read (the classic one: MarkdownV2 text with an
unescaped '.' or '!'), and counts a message's length after the markup is removed; the dev server does the
same so that a bot's formatting bugs show up in tests, not in production. Entity offsets and lengths are in
UTF-16 code units, as in the Bot API.
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Any

from devserver.spec import ApiRequestError, bad_request

JsonDict = dict[str, Any]


def utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _cant_parse(reason: str) -> ApiRequestError:
    return bad_request(f"can't parse entities: {reason}")


def _byte_offset(source: str, index: int) -> int:
    return len(source[:index].encode("utf-8"))


class _Builder:
    """Plain text being assembled, with its length in UTF-16 units and the entities found so far."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.entities: list[JsonDict] = []

    def add(self, text: str) -> None:
        self.parts.append(text)
        self.pos += utf16_len(text)

    def entity(self, kind: str, start: int, **extra: Any) -> None:
        """Close an entity that began at UTF-16 offset ``start``; Telegram drops empty ones."""
        if self.pos > start:
            self.entities.append({"type": kind, "offset": start, "length": self.pos - start, **extra})

    def result(self) -> tuple[str, list[JsonDict]]:
        return "".join(self.parts), sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))


def parse_formatted(
    text: str, parse_mode: str | None, entities: list[JsonDict] | None = None
) -> tuple[str, list[JsonDict]]:
    """Plain text and entities of ``text`` as Telegram reads it; explicit ``entities`` win over parse_mode."""
    if entities is not None:
        return text, list(entities)
    if not parse_mode:
        return text, []
    parser = _PARSERS.get(parse_mode.lower())
    if parser is None:
        raise bad_request("unsupported parse_mode")
    return parser(text)


# ---- HTML -------------------------------------------------------------------------------------------

_HTML_SIMPLE = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "code": "code",
    "pre": "pre",
}


class _HtmlParser(HTMLParser):
    def __init__(self, source: str) -> None:
        super().__init__(convert_charrefs=True)
        self.source = source
        self.out = _Builder()
        self.stack: list[tuple[str, int, JsonDict | None]] = []
        self._line_starts = [0] + [m.end() for m in re.finditer("\n", source)]

    def _here(self) -> int:
        line, column = self.getpos()
        return _byte_offset(self.source, self._line_starts[line - 1] + column)

    def handle_data(self, data: str) -> None:
        self.out.add(data)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "code" and self.stack and self.stack[-1][0] == "pre" and self.stack[-1][2] is not None:
            language = attributes.get("class", "")
            if language.startswith("language-"):
                self.stack[-1][2]["language"] = language.removeprefix("language-")
            self.stack.append((tag, self.out.pos, None))  # <pre><code> is one pre entity
            return
        entity = self._entity_for(tag, attributes)
        self.stack.append((tag, self.out.pos, entity))

    def _entity_for(self, tag: str, attributes: dict[str, str]) -> JsonDict:
        if tag in _HTML_SIMPLE:
            return {"type": _HTML_SIMPLE[tag]}
        if tag == "span" and attributes.get("class") == "tg-spoiler":
            return {"type": "spoiler"}
        if tag == "a" and attributes.get("href"):
            return {"type": "text_link", "url": attributes["href"]}
        if tag == "blockquote":
            return {"type": "expandable_blockquote" if "expandable" in attributes else "blockquote"}
        if tag == "tg-emoji" and attributes.get("emoji-id"):
            return {"type": "custom_emoji", "custom_emoji_id": attributes["emoji-id"]}
        raise _cant_parse(f'Unsupported start tag "{tag}" at byte offset {self._here()}')

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        raise _cant_parse(f'Unsupported start tag "{tag}" at byte offset {self._here()}')

    def handle_endtag(self, tag: str) -> None:
        if not self.stack or self.stack[-1][0] != tag:
            expected = f', expected "</{self.stack[-1][0]}>"' if self.stack else ""
            raise _cant_parse(f'Unmatched end tag at byte offset {self._here()}{expected}, found "</{tag}>"')
        _, start, entity = self.stack.pop()
        if entity is not None:
            kind = entity.pop("type")
            self.out.entity(kind, start, **entity)


def _parse_html(source: str) -> tuple[str, list[JsonDict]]:
    parser = _HtmlParser(source)
    parser.feed(source)
    parser.close()
    if parser.stack:
        raise _cant_parse(f'Can\'t find end tag corresponding to start tag "{parser.stack[-1][0]}"')
    return parser.out.result()


# ---- MarkdownV2 -------------------------------------------------------------------------------------

_MD2_RESERVED = frozenset("_*[]()~`>#+-=|{}.!")
_MD2_MARKERS = {"__": "underline", "||": "spoiler", "*": "bold", "_": "italic", "~": "strikethrough"}
_MD2_NAMES = {
    "bold": "Bold",
    "italic": "Italic",
    "underline": "Underline",
    "strikethrough": "Strikethrough",
    "spoiler": "Spoiler",
    "text_link": "TextUrl",
}


def _find_closing(source: str, start: int, closing: str) -> int:
    """Index of the first unescaped ``closing`` at or after ``start``, or -1."""
    i = start
    while i < len(source):
        if source[i] == "\\":
            i += 2
            continue
        if source.startswith(closing, i):
            return i
        i += 1
    return -1


def _unescape(text: str) -> str:
    return re.sub(r"\\(.)", r"\1", text, flags=re.DOTALL)


class _MarkdownV2:
    def __init__(self, source: str) -> None:
        self.src = source
        self.out = _Builder()
        self.stack: list[tuple[str, int, int]] = []  # marker, UTF-16 offset, byte offset
        self.quote_start: int | None = None

    def parse(self) -> tuple[str, list[JsonDict]]:
        i = 0
        while i < len(self.src):
            i = self._step(i)
        self._close_quote()
        if self.stack:
            marker, _, byte = self.stack[-1]
            kind = "text_link" if marker == "[" else _MD2_MARKERS[marker]
            raise _cant_parse(f"Can't find end of {_MD2_NAMES[kind]} entity at byte offset {byte}")
        return self.out.result()

    def _step(self, i: int) -> int:
        src, c = self.src, self.src[i]
        if c == "\\" and i + 1 < len(src) and 0 < ord(src[i + 1]) < 127:
            self.out.add(src[i + 1])
            return i + 2
        if c == "`":
            return self._pre(i) if src.startswith("```", i) else self._code(i)
        if c == ">" and (i == 0 or src[i - 1] == "\n"):
            if self.quote_start is None:
                self.quote_start = self.out.pos
            return i + 1
        if c == "\n":
            if self.quote_start is not None and not src.startswith(">", i + 1):
                self._close_quote()
            self.out.add(c)
            return i + 1
        if c == "[":
            self.stack.append(("[", self.out.pos, _byte_offset(src, i)))
            return i + 1
        if c == "]" and self.stack and self.stack[-1][0] == "[":
            return self._link_end(i)
        marker = next((m for m in _MD2_MARKERS if src.startswith(m, i)), None)
        if marker is not None:
            self._toggle(marker, i)
            return i + len(marker)
        if c in _MD2_RESERVED:
            raise _cant_parse(f"Character '{c}' is reserved and must be escaped with the preceding '\\'")
        self.out.add(c)
        return i + 1

    def _toggle(self, marker: str, i: int) -> None:
        if self.stack and self.stack[-1][0] == marker:
            _, start, _ = self.stack.pop()
            self.out.entity(_MD2_MARKERS[marker], start)
        else:
            self.stack.append((marker, self.out.pos, _byte_offset(self.src, i)))

    def _close_quote(self) -> None:
        if self.quote_start is not None:
            self.out.entity("blockquote", self.quote_start)
            self.quote_start = None

    def _link_end(self, i: int) -> int:
        _, start, byte = self.stack.pop()
        close = _find_closing(self.src, i + 2, ")") if self.src.startswith("(", i + 1) else -1
        if close < 0:
            raise _cant_parse(f"Can't find end of a url for TextUrl entity at byte offset {byte}")
        self.out.entity("text_link", start, url=_unescape(self.src[i + 2 : close]))
        return close + 1

    def _code(self, i: int) -> int:
        close = _find_closing(self.src, i + 1, "`")
        if close < 0:
            raise _cant_parse(f"Can't find end of Code entity at byte offset {_byte_offset(self.src, i)}")
        start = self.out.pos
        self.out.add(_unescape(self.src[i + 1 : close]))
        self.out.entity("code", start)
        return close + 1

    def _pre(self, i: int) -> int:
        close = _find_closing(self.src, i + 3, "```")
        if close < 0:
            raise _cant_parse(f"Can't find end of Pre entity at byte offset {_byte_offset(self.src, i)}")
        inner, language = self.src[i + 3 : close], ""
        first, newline, rest = inner.partition("\n")
        if newline and not re.search(r"\s", first):
            language, inner = first, rest
        start = self.out.pos
        self.out.add(_unescape(inner))
        extra = {"language": language} if language else {}
        self.out.entity("pre", start, **extra)
        return close + 3


def _parse_markdown_v2(source: str) -> tuple[str, list[JsonDict]]:
    return _MarkdownV2(source).parse()


# ---- legacy Markdown ----------------------------------------------------------------------------------

_MD1_MARKERS = {"*": "bold", "_": "italic", "`": "code"}


def _parse_markdown(source: str) -> tuple[str, list[JsonDict]]:
    """Legacy Markdown: *bold*, _italic_, `code`, ```pre```, [text](url); no nesting."""
    out, i = _Builder(), 0
    while i < len(source):
        c = source[i]
        if c == "\\" and i + 1 < len(source) and source[i + 1] in "_*`[":
            out.add(source[i + 1])
            i += 2
            continue
        opening = "```" if source.startswith("```", i) else c
        closing = {"```": "```", "*": "*", "_": "_", "`": "`", "[": "]"}.get(opening)
        if closing is None:
            out.add(c)
            i += 1
            continue
        end = source.find(closing, i + len(opening))
        if end < 0 or (opening == "[" and not source.startswith("(", end + 1)):
            raise _cant_parse(
                f"Can't find end of the entity starting at byte offset {_byte_offset(source, i)}"
            )
        start = out.pos
        out.add(source[i + len(opening) : end])
        if opening == "[":
            url_end = source.find(")", end + 2)
            if url_end < 0:
                raise _cant_parse(
                    f"Can't find end of the entity starting at byte offset {_byte_offset(source, i)}"
                )
            out.entity("text_link", start, url=source[end + 2 : url_end])
            i = url_end + 1
            continue
        out.entity("pre" if opening == "```" else _MD1_MARKERS[opening], start)
        i = end + len(closing)
    return out.result()


_PARSERS = {"html": _parse_html, "markdownv2": _parse_markdown_v2, "markdown": _parse_markdown}


# ---- detected entities --------------------------------------------------------------------------------

_DETECTORS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("bot_command", re.compile(r"(?<!\S)/[A-Za-z0-9_]{1,64}(?:@[A-Za-z0-9_]{3,32})?(?![\w/])")),
    ("email", re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")),
    ("url", re.compile(r"\bhttps?://[^\s<>\"]+[^\s<>\".,;:!?)\]'}]|\b(?:www\.)[^\s<>\"]+[^\s<>\".,;:!?)]")),
    ("mention", re.compile(r"(?<![\w@])@[A-Za-z0-9_]{5,32}\b")),
    ("hashtag", re.compile(r"(?<![\w#])#\w*[^\W\d]\w*")),
)


def detect_entities(text: str, existing: list[JsonDict] | None = None) -> list[JsonDict]:
    """``existing`` plus the commands, e-mails, URLs, mentions and hashtags Telegram finds in plain text."""
    found: list[JsonDict] = list(existing or [])
    taken: list[tuple[int, int]] = [(e["offset"], e["offset"] + e["length"]) for e in found]
    for kind, pattern in _DETECTORS:
        for match in pattern.finditer(text):
            start = utf16_len(text[: match.start()])
            end = start + utf16_len(match.group())
            if any(start < b and a < end for a, b in taken):
                continue
            taken.append((start, end))
            found.append({"type": kind, "offset": start, "length": end - start})
    return sorted(found, key=lambda e: (e["offset"], -e["length"]))
