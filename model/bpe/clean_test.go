package bpe

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// pythonCases is testdata/python_cases.json, made by gen_python_cases.py
// with Python's html, str and regex modules.
type pythonCases struct {
	Pattern string `json:"pattern"`
	Cases   []struct {
		Text      string   `json:"text"`
		Cleaned   string   `json:"cleaned"`
		Pretokens []string `json:"pretokens"`
	} `json:"cases"`
	UTF8 []struct {
		Hex     string `json:"hex"`
		Decoded string `json:"decoded"`
	} `json:"utf8"`
	Charrefs [][2]any `json:"charrefs"`
}

func loadPythonCases(t testing.TB) pythonCases {
	t.Helper()
	data, err := os.ReadFile("testdata/python_cases.json")
	require.NoError(t, err)
	var p pythonCases
	require.NoError(t, json.Unmarshal(data, &p))
	require.NotEmpty(t, p.Cases)
	return p
}

func TestPythonClean(t *testing.T) {
	p := loadPythonCases(t)
	require.Equal(t, Pattern, p.Pattern)
	for _, c := range p.Cases {
		got := Clean(c.Text)
		require.Equalf(t, c.Cleaned, got, "Clean(%q)", c.Text)
		requireSame(t, c.Pretokens, PreTokenize(got), c.Text, "PreTokenize")
	}
}

func TestPythonUTF8Replace(t *testing.T) {
	for _, c := range loadPythonCases(t).UTF8 {
		b, err := hex.DecodeString(c.Hex)
		require.NoError(t, err)
		require.Equalf(t, c.Decoded, validUTF8(string(b)), "decode %s", c.Hex)
	}
}

func TestPythonCharrefs(t *testing.T) {
	p := loadPythonCases(t)
	require.NotEmpty(t, p.Charrefs)
	for _, c := range p.Charrefs {
		n := int(c[0].(float64))
		want := c[1].(string)
		require.Equalf(t, want, unescape(fmt.Sprintf("&#%d;", n)), "&#%d;", n)
		require.Equalf(t, want, unescape(fmt.Sprintf("&#x%X", n)), "&#x%X", n)
	}
}

func TestClean(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{"", ""},
		{"  Hello\u00a0\u3000World  ", "hello world"},
		{"a\x1cb", "a\x1cb"}, // str.isspace but not regex \s: kept inside
		{"\x1c a \x1f", "a"}, // ... and stripped at the ends
		{"ΟΔΥΣΣΕΥΣ", "οδυσσευς"},
		{"ΣΑΣ Σ AΣ. Σ", "σας σ aς. σ"},
		{"İstanbul", "i\u0307stanbul"},
		{"fish &amp chips &copy2024", "fish & chips ©2024"},
		{"&amp;lt;b&amp;gt;", "<b>"},     // unescaped twice
		{"&amp;amp;lt;", "&lt;"},         // but not three times
		{"&#0;&#128;&#x9f;", "\ufffd€ÿ"}, // Windows-1252 fix-ups
		{"a&#1;&#xFFFE;b", "ab"},         // dropped
		{"&#99999999999999999999999999;", "\ufffd"},
		{"&notit; &notin;", "¬it; ∉"},
		{"&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;", "&aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa;"},
		{"x\xffy\xe2\x82z", "x\ufffdy\ufffdz"},
	} {
		require.Equalf(t, c.want, Clean(c.in), "Clean(%q)", c.in)
	}
}

func TestPreTokenize(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []string
	}{
		{"", nil},
		{"it's 'tis rock'n'roll", []string{"it", "'s", "'t", "is", "rock", "'", "n", "'", "roll"}},
		{"'ſ 'll 're'", []string{"'ſ", "'ll", "'re", "'"}},
		{"<|startoftext|>hi<|endoftext|>", []string{"<|startoftext|>", "hi", "<|endoftext|>"}},
		{"!<|endoftext|>", []string{"!<|", "endoftext", "|>"}},
		{"<|ſtartoftext|>", []string{"<|ſtartoftext|>"}},
		{"2024 ½", []string{"2", "0", "2", "4", "½"}},
		{"x\u0345y \u0345", []string{"x", "y"}},
		{"สวัสดี", []string{"สว", "ั", "สด", "ี"}}, // marks are not letters
		{"a\xffb", []string{"a", "\xff", "b"}},
	} {
		require.Equalf(t, c.want, PreTokenize(c.in), "PreTokenize(%q)", c.in)
	}
}

// TestEntityTable checks the generated table against Go's own HTML5 table,
// which agrees with Python's on every name but the two Go leaves out.
func TestEntityTable(t *testing.T) {
	table := html5Entities()
	require.Len(t, table, 2231)
	var unknown []string
	for name, want := range table {
		got := html.UnescapeString("&" + name)
		if got == "&"+name {
			unknown = append(unknown, name)
			continue
		}
		require.Equal(t, want, got, name)
		if !strings.HasSuffix(name, ";") {
			require.LessOrEqual(t, len(name), 6, "legacy names are short")
		}
	}
	require.ElementsMatch(t, []string{"nGt;", "nLt;"}, unknown)
	require.Equal(t, "\u226a\u20d2", Clean("&nLt;"))
}
