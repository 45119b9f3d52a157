package bpe

import (
	"unicode"
	"unicode/utf8"
)

// Pattern is CLIP's pre-tokenizer regex, compiled by Python's regex module
// with IGNORECASE. PreTokenize implements it by hand because Go's regexp has
// an ASCII-only \s.
const Pattern = `<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d|[\p{L}]+|[\p{N}]|[^\s\p{L}\p{N}]+`

// StartOfText is the special token that starts every sequence; written
// in the text it is recognised and encoded as SOT.
const StartOfText = "<|startoftext|>"

// EndOfText is the special token that ends every sequence; written in the
// text it is recognised and encoded as EOT.
const EndOfText = "<|endoftext|>"

// contractions are the 's 't 're 've 'm 'll 'd alternatives, in regex order.
var contractions = []string{"s", "t", "re", "ve", "m", "ll", "d"}

// PreTokenize returns the matches of Pattern in cleaned (the output of
// Clean), left to right, as re.findall does: one of the two special tokens,
// a contraction, a run of letters, one number character, or a run of
// characters that are neither space, letter nor number. Characters that
// start no match (spaces, and U+0345, which IGNORECASE removes from every
// class) are skipped. Matching ignores case the way the regex module does
// (simple case folding), so "'ſ" is a contraction. Invalid UTF-8 is matched
// as U+FFFD but returned as the original bytes.
func PreTokenize(cleaned string) []string {
	var out []string
	s := cleaned
	for i := 0; i < len(s); {
		if n := matchSpecial(s[i:]); n > 0 {
			out = append(out, s[i:i+n])
			i += n
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == '\'' {
			if n := matchContraction(s[i+1:]); n > 0 {
				out = append(out, s[i:i+1+n])
				i += 1 + n
				continue
			}
		}
		var in func(rune) bool
		switch {
		case isLetter(r):
			in = isLetter
		case isNumber(r):
			out = append(out, s[i:i+size])
			i += size
			continue
		case isOther(r):
			in = isOther
		default:
			i += size
			continue
		}
		j := i + size
		for j < len(s) {
			r, size := utf8.DecodeRuneInString(s[j:])
			if !in(r) {
				break
			}
			j += size
		}
		out = append(out, s[i:j])
		i = j
	}
	return out
}

// isLetter is [\p{L}] under IGNORECASE; unicode.IsLetter already is closed
// under case folding. newLetters adds what the regex module's newer
// Unicode data knows.
func isLetter(r rune) bool {
	if r < 0x80 {
		return (r|0x20) >= 'a' && (r|0x20) <= 'z'
	}
	return unicode.IsLetter(r) || unicode.Is(newLetters, r)
}

// isNumber is [\p{N}].
func isNumber(r rune) bool {
	if r < 0x80 {
		return r >= '0' && r <= '9'
	}
	return unicode.IsNumber(r) || unicode.Is(newNumbers, r)
}

// isOther is [^\s\p{L}\p{N}] under IGNORECASE. U+0345 (COMBINING GREEK
// YPOGEGRAMMENI, a mark) folds to iota, so the regex module counts it as a
// letter for the negated class but not for [\p{L}]: it matches nothing.
func isOther(r rune) bool {
	return !isRegexSpace(r) && !isLetter(r) && !isNumber(r) && r != 0x345
}

// matchSpecial returns the length of a special token at the start of s.
func matchSpecial(s string) int {
	if len(s) == 0 || s[0] != '<' {
		return 0
	}
	if n := matchFold(s, StartOfText); n > 0 {
		return n
	}
	return matchFold(s, EndOfText)
}

// matchContraction returns the length of s, r, ve ... after an apostrophe.
func matchContraction(s string) int {
	for _, c := range contractions {
		if n := matchFold(s, c); n > 0 {
			return n
		}
	}
	return 0
}

// matchFold returns how many bytes at the start of s equal the ASCII string
// lit under simple case folding, or 0 if they do not.
func matchFold(s, lit string) int {
	n := 0
	for k := 0; k < len(lit); k++ {
		if n >= len(s) {
			return 0
		}
		r, size := utf8.DecodeRuneInString(s[n:])
		if !foldEq(r, rune(lit[k])) {
			return 0
		}
		n += size
	}
	return n
}

// foldEq reports whether r and c are in the same simple case folding orbit
// (s, S and ſ; k, K and the Kelvin sign).
func foldEq(r, c rune) bool {
	if r == c {
		return true
	}
	for f := unicode.SimpleFold(c); f != c; f = unicode.SimpleFold(f) {
		if f == r {
			return true
		}
	}
	return false
}
