package breaker

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ValidateName reports whether name is a valid breaker name: non-empty, at
// most 255 bytes of valid UTF-8, not only dots, without white space at
// either end, and free of control characters, invisible format characters
// (such as bidirectional overrides and zero-width spaces), other
// characters Unicode says to ignore when rendering (such as Hangul fillers
// and the combining grapheme joiner), variation selectors, line or
// paragraph separators, and spaces other than the ASCII space (such as the
// no-break space): characters that could make one name pass for another
// on a dashboard. Names become metric labels,
// URL path segments and log values. The error is a [*ConfigError] for the
// field "name".
func ValidateName(name string) error {
	reason := ""
	switch {
	case name == "":
		reason = "must not be empty"
	case len(name) > MaxNameLength:
		reason = "must be at most 255 bytes"
	case !utf8.ValidString(name):
		reason = "must be valid UTF-8"
	case strings.Trim(name, ".") == "":
		reason = "must not be only dots (no URL path can address it)"
	default:
		for _, r := range name {
			if unicode.IsControl(r) || unicode.In(r, unicode.Cf, unicode.Zl, unicode.Zp, unicode.Other_Default_Ignorable_Code_Point, unicode.Variation_Selector) || unicode.Is(unicode.Zs, r) && r != ' ' {
				reason = "must not contain control, format, invisible or line-separator characters, or spaces other than U+0020"
				break
			}
		}
		if reason == "" && strings.TrimSpace(name) != name {
			reason = "must not begin or end with white space"
		}
	}
	if reason == "" {
		return nil
	}
	shown := name
	if len(shown) > 64 {
		shown = shown[:min(len(shown), 64)]
	}
	return &ConfigError{Field: "name", Value: quoted(shown), Reason: reason}
}

// quoted formats a string with %q when the ConfigError is printed.
type quoted string

func (q quoted) String() string { return strconv.Quote(string(q)) }
