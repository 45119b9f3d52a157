package bpe

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Clean normalises text the way CLIP's simple_tokenizer does before splitting:
// whitespace_clean(basic_clean(text)).lower(), with Python semantics.
//
//   - Invalid UTF-8 becomes U+FFFD, one per maximal invalid subsequence, as
//     Python's bytes.decode("utf-8", "replace") does.
//   - ftfy.fix_text is the identity (the fixtures were made that way; ftfy's
//     repairs of mojibake, quotes, ligatures and NFC are not reproduced).
//   - html.unescape twice, with Python's rules (see unescape).
//   - str.strip, then runs of regex \s (Unicode White_Space) become one space,
//     then str.strip again. str.strip also removes U+001C..U+001F, which
//     regex's \s does not match.
//   - str.lower: full lower-casing, so U+0130 becomes "i\u0307", and capital
//     sigma becomes final sigma U+03C2 at the end of a word (Final_Sigma).
//
// Characters added to Unicode after Python's tables (Python 3.11 uses Unicode
// 14, Go's unicode package is newer) may be classified differently.
func Clean(text string) string {
	text = validUTF8(text)
	text = unescape(unescape(text))
	text = strings.TrimFunc(text, isPySpace)
	text = collapseSpace(text)
	text = strings.TrimFunc(text, isPySpace)
	return pyLower(text)
}

// isPySpace is Python's str.isspace for one character: Unicode White_Space
// plus the information separators U+001C..U+001F (bidi class B or S).
func isPySpace(r rune) bool {
	return (r >= 0x1c && r <= 0x1f) || isRegexSpace(r)
}

// isRegexSpace is \s of Python's regex module: the White_Space property.
// Go's regexp \s is ASCII only, hence this.
func isRegexSpace(r rune) bool {
	if r < 0x80 {
		return r == ' ' || (r >= '\t' && r <= '\r')
	}
	return unicode.Is(unicode.White_Space, r)
}

// collapseSpace replaces every run of regex \s by one ASCII space
// (re.sub(r'\s+', ' ', text)).
func collapseSpace(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	inSpace := false
	for _, r := range s {
		if isRegexSpace(r) {
			if !inSpace {
				b.WriteByte(' ')
			}
			inSpace = true
			continue
		}
		inSpace = false
		b.WriteRune(r)
	}
	return b.String()
}

// pyLower is Python's str.lower: unicode.ToLower per character except for
// the two places where Python uses more than the simple mapping.
func pyLower(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	for i, r := range s {
		switch r {
		case 0x130: // LATIN CAPITAL LETTER I WITH DOT ABOVE: SpecialCasing gives two characters.
			b.WriteString("i\u0307")
		case 0x3a3: // GREEK CAPITAL LETTER SIGMA
			if finalSigma(s, i) {
				b.WriteRune(0x3c2)
			} else {
				b.WriteRune(0x3c3)
			}
		default:
			b.WriteRune(unicode.ToLower(r))
		}
	}
	return b.String()
}

// finalSigma reports whether the sigma at byte i of s is in Unicode's
// Final_Sigma context, as CPython's handle_capital_sigma decides it: a cased
// letter before it and none after it, skipping case-ignorable characters.
func finalSigma(s string, i int) bool {
	before := s[:i]
	for {
		if before == "" {
			return false // nothing cased before it
		}
		r, n := utf8.DecodeLastRuneInString(before)
		before = before[:len(before)-n]
		if !isCaseIgnorable(r) {
			if !isCased(r) {
				return false
			}
			break
		}
	}
	for _, r := range s[i+len("\u03a3"):] {
		if !isCaseIgnorable(r) {
			return !isCased(r)
		}
	}
	return true
}

// isCased is Unicode's Cased property (DerivedCoreProperties).
func isCased(r rune) bool {
	return unicode.IsLower(r) || unicode.IsUpper(r) || unicode.IsTitle(r) ||
		unicode.Is(unicode.Other_Lowercase, r) || unicode.Is(unicode.Other_Uppercase, r)
}

// isCaseIgnorable is Unicode's Case_Ignorable property: Mn, Me, Cf, Lm, Sk
// and the Word_Break classes MidLetter, MidNumLet and Single_Quote.
func isCaseIgnorable(r rune) bool {
	switch r {
	case '\'', '.', ':', 0xb7, 0x387, 0x55f, 0x5f4, 0x2018, 0x2019, 0x2024, 0x2027,
		0xfe13, 0xfe52, 0xfe55, 0xff07, 0xff0e, 0xff1a:
		return true
	}
	return unicode.In(r, unicode.Mn, unicode.Me, unicode.Cf, unicode.Lm, unicode.Sk)
}

// validUTF8 returns s with every maximal invalid subsequence (Unicode's
// "maximal subpart", which is what Python's "replace" error handler uses)
// replaced by U+FFFD. Go's range loop would give one U+FFFD per byte instead.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if r != utf8.RuneError || n > 1 {
			b.WriteString(s[i : i+n])
			i += n
			continue
		}
		b.WriteRune(utf8.RuneError)
		i += invalidLen(s[i:])
	}
	return b.String()
}

// invalidLen is the length of the maximal subpart at the start of s, which
// does not start with a valid UTF-8 sequence: the lead byte plus the
// continuation bytes that could still have completed it (Unicode Table 3-7).
func invalidLen(s string) int {
	lo, hi, need := byte(0x80), byte(0xbf), 0
	switch c := s[0]; {
	case c >= 0xc2 && c <= 0xdf:
		need = 1
	case c == 0xe0:
		lo, need = 0xa0, 2
	case c == 0xed:
		hi, need = 0x9f, 2
	case c >= 0xe1 && c <= 0xef:
		need = 2
	case c == 0xf0:
		lo, need = 0x90, 3
	case c == 0xf4:
		hi, need = 0x8f, 3
	case c >= 0xf1 && c <= 0xf3:
		need = 3
	}
	n := 1
	for ; n <= need && n < len(s); n++ {
		if s[n] < lo || s[n] > hi {
			break
		}
		lo, hi = 0x80, 0xbf
	}
	return n
}

// unescape is Python's html.unescape: the same pattern
// &(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?) and replacement
// rules. Unlike Go's html.UnescapeString it drops references to
// noncharacters and most controls, reads names of up to 32 characters of
// any kind, and never overflows on long numbers (Python 3.11 raises
// ValueError past 4300 decimal digits; here they give U+FFFD like any
// number above U+10FFFF).
func unescape(s string) string {
	amp := strings.IndexByte(s, '&')
	if amp < 0 {
		return s
	}
	var b strings.Builder
	b.Grow(len(s))
	for amp >= 0 {
		b.WriteString(s[:amp])
		s = s[amp+1:]
		n := unescapeRef(&b, s)
		if n == 0 {
			b.WriteByte('&')
		}
		s = s[n:]
		amp = strings.IndexByte(s, '&')
	}
	b.WriteString(s)
	return b.String()
}

// unescapeRef matches a character reference at the start of s (just after
// an '&'), writes its replacement and returns its length, or 0 if the
// pattern does not match there.
func unescapeRef(b *strings.Builder, s string) int {
	if strings.HasPrefix(s, "#") {
		return unescapeNumber(b, s)
	}
	// [^\t\n\f <&#;]{1,32};? counted in characters.
	n, chars := 0, 0
	for n < len(s) && chars < 32 {
		r, size := utf8.DecodeRuneInString(s[n:])
		if strings.ContainsRune("\t\n\f <&#;", r) {
			break
		}
		n += size
		chars++
	}
	if n == 0 {
		return 0
	}
	if n < len(s) && s[n] == ';' {
		n++
	}
	name := s[:n]
	entities := html5Entities()
	if v, ok := entities[name]; ok {
		b.WriteString(v)
		return n
	}
	// The longest prefix that is a name; only names without ';' can be
	// prefixes, and they are all ASCII, so byte and character indices agree.
	for x := len(name) - 1; x > 1; x-- {
		if v, ok := entities[name[:x]]; ok {
			b.WriteString(v)
			b.WriteString(name[x:])
			return n
		}
	}
	b.WriteByte('&')
	b.WriteString(name)
	return n
}

// unescapeNumber handles #[0-9]+;? and #[xX][0-9a-fA-F]+;? at the start of s.
func unescapeNumber(b *strings.Builder, s string) int {
	base, start := 10, 1
	if len(s) > 1 && (s[1] == 'x' || s[1] == 'X') {
		base, start = 16, 2
	}
	n, num := start, 0
	for ; n < len(s); n++ {
		d := digitVal(s[n], base)
		if d < 0 {
			break
		}
		if num <= unicode.MaxRune {
			num = num*base + d // saturates just above MaxRune: enough to classify
		}
	}
	if n == start {
		return 0
	}
	if n < len(s) && s[n] == ';' {
		n++
	}
	switch {
	case num == 0:
		b.WriteRune(utf8.RuneError)
	case num == '\r':
		b.WriteByte('\r')
	case num >= 0x80 && num <= 0x9f:
		b.WriteRune(windows1252[num-0x80])
	case (num >= 0xd800 && num <= 0xdfff) || num > unicode.MaxRune:
		b.WriteRune(utf8.RuneError)
	case invalidCodepoint(num):
		// Python drops these.
	default:
		b.WriteRune(rune(num))
	}
	return n
}

func digitVal(c byte, base int) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case base == 16 && c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case base == 16 && c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}

// windows1252 is Python's html._invalid_charrefs for &#x80; .. &#x9f;.
var windows1252 = [32]rune{
	0x20ac, 0x81, 0x201a, 0x192, 0x201e, 0x2026, 0x2020, 0x2021,
	0x2c6, 0x2030, 0x160, 0x2039, 0x152, 0x8d, 0x17d, 0x8f,
	0x90, 0x2018, 0x2019, 0x201c, 0x201d, 0x2022, 0x2013, 0x2014,
	0x2dc, 0x2122, 0x161, 0x203a, 0x153, 0x9d, 0x17e, 0x178,
}

// invalidCodepoint is Python's html._invalid_codepoints (those not already
// handled by windows1252): references to them are removed.
func invalidCodepoint(n int) bool {
	return (n >= 0x1 && n <= 0x8) || n == 0xb || (n >= 0xe && n <= 0x1f) ||
		(n >= 0x7f && n <= 0x9f) || (n >= 0xfdd0 && n <= 0xfdef) || n&0xfffe == 0xfffe
}
