#!/usr/bin/env python3
"""Writes python_cases.json: random tricky strings run through Python's own
html.unescape, str.strip, regex \\s, str.lower and the regex module's
findall with CLIP's pattern, and random bytes through
bytes.decode('utf-8', 'replace'). The Go tests compare Clean, PreTokenize
and the UTF-8 repair against them. ftfy.fix_text is the identity, as in
the fixtures.

Run from model/bpe/testdata:  python3 gen_python_cases.py > python_cases.json
"""
import html
import json
import random
import sys

import regex

PATTERN = r"""<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+"""
pat = regex.compile(PATTERN, regex.IGNORECASE)


def clean(text):
    text = html.unescape(html.unescape(text)).strip()  # ftfy.fix_text = identity
    return regex.sub(r'\s+', ' ', text).strip().lower()


PIECES = [
    'a', 'B', 'cat', 'DOG', 'x', 'Z', '0', '7', '42', ' ', '  ', '\t', '\n', '\r\n', '\x0b', '\x0c',
    '\x1c', '\x1d', '\x1e', '\x1f', '\x85', '\xa0', '\u1680', '\u2000', '\u200a', '\u2028', '\u2029',
    '\u202f', '\u205f', '\u3000', '\u200b', '\u180e', '\ufeff', '\x00', '\x7f',
    '.', ',', '!', '?', '...', '-', '_', '/', ':', ';', '#', '&', '<', '>', '|', '"', "'", '`',
    "'s", "'S", "'t", "'re", "'RE", "'ve", "'m", "'ll", "'LL", "'d", "'D", "'x", "'ſ", "'ſt",
    '<|startoftext|>', '<|endoftext|>', '<|ENDOFTEXT|>', '<|StartOfText|>', '<|ſtartoftext|>',
    '<|endoftext', '</w>', '<|', '|>',
    '&amp;', '&amp', '&AMP', '&AMP;', '&lt', '&lt;', '&gt;', '&quot;', '&#39;', '&#x27;', '&#X41;',
    '&#65', '&#0;', '&#13;', '&#128;', '&#x81;', '&#x9F;', '&#xD800;', '&#1114111;', '&#1114112;',
    '&#99999999999999999999;', '&#x110000;', '&#65534;', '&#xFFFF;', '&#1;', '&#11;', '&#x7f;',
    '&#xFDD0;', '&#x1FFFE;', '&#', '&#x', '&#;', '&;', '& ', '&&', '&amp;amp;', '&amp;lt;',
    '&notin;', '&notit;', '&not', '&copy2024', '&nbsp;', '&nbsp', '&fjlig;', '&NotNestedGreaterGreater;',
    '&CounterClockwiseContourIntegral;', '&CounterClockwiseContourIntegralX;', '&ampé', '&amp,x',
    '&frac34', '&frac345', '&thinsp;', '&ensp;', '&emsp;', '&NewLine;', '&Tab;', '&zwnj;',
    '&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;', '&éé;', '&\r;', '&lt\x0b',
    'Σ', 'σ', 'ς', 'ΣΑΣ', 'ΟΔΥΣΣΕΥΣ', 'Σ.', "Σ'", 'Α\u0301Σ', 'ʰΣ', 'İ', 'I', 'ı', 'ſ', '\u212a',
    'ẞ', 'ß', 'ǅ', 'Ǆ', '\u0345', 'Ⅻ', 'ⅻ', 'Ⓐ', 'ⓐ', 'ﬁ', 'ʰ', '\u00ad', '\u200d', '\u0301',
    '\u0e31', 'é', 'e\u0301', 'É', 'Ω', 'Ω', '½', '²', '٣', '𝟙', '❤️', '🍕', '👍🏽', '👨\u200d👩',
    '我', '東京', 'タ', '한국', 'สวัสดี', 'नमस्ते', 'مرحبا', '·', '\u0387', '\u2019', '\uff07',
    '\ufffd', '\U0001d504', '\U00010d40', '\u088f', 'Ａ', 'ｔ', '１',
]


def rand_text(rng):
    return ''.join(rng.choice(PIECES) for _ in range(rng.randint(1, 12)))


def main():
    rng = random.Random(20240611)
    texts = [p for p in PIECES] + [rand_text(rng) for _ in range(600)]
    cases = []
    for t in texts:
        c = clean(t)
        cases.append({'text': t, 'cleaned': c, 'pretokens': pat.findall(c)})
    utf8 = []
    alphabet = [0x00, 0x41, 0x7f, 0x80, 0x9f, 0xa0, 0xbf, 0xc0, 0xc1, 0xc2, 0xdf, 0xe0, 0xe1, 0xec,
                0xed, 0xee, 0xef, 0xf0, 0xf1, 0xf3, 0xf4, 0xf5, 0xff, 0x8f, 0x90]
    for _ in range(300):
        b = bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 8)))
        utf8.append({'hex': b.hex(), 'decoded': b.decode('utf-8', 'replace')})
    nums = list(range(0, 0x101)) + list(range(0xd7fe, 0xd802)) + list(range(0xdffe, 0xe002)) + \
        list(range(0xfdce, 0xfdf2)) + [p * 0x10000 + d for p in range(17) for d in (0xfffd, 0xfffe, 0xffff)] + \
        [0x10fffe, 0x10ffff, 0x110000, 0x110001]
    charrefs = [[n, html.unescape('&#%d;' % n)] for n in nums]
    json.dump({'generator': 'gen_python_cases.py, Python %s, regex %s' % (sys.version.split()[0], regex.__version__),
               'pattern': PATTERN, 'cases': cases, 'utf8': utf8, 'charrefs': charrefs},
              sys.stdout, ensure_ascii=True, indent=0)
    sys.stdout.write('\n')


main()
