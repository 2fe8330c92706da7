package e2e

import (
	"fmt"
	"strings"
)

// aggregations are PromQL aggregation operators: an identifier from this set
// is never a metric name, even when "by"/"without" follows it instead of "(".
var aggregations = map[string]bool{
	"sum": true, "min": true, "max": true, "avg": true, "group": true,
	"stddev": true, "stdvar": true, "count": true, "count_values": true,
	"bottomk": true, "topk": true, "quantile": true, "limitk": true,
	"limit_ratio": true,
}

// keywords are PromQL words that are neither metric names nor functions.
var keywords = map[string]bool{
	"and": true, "or": true, "unless": true, "bool": true, "atan2": true,
	"inf": true, "nan": true, "offset": true,
}

// labelLists are the modifiers followed by a parenthesised list of label
// names, which must be copied untouched.
var labelLists = map[string]bool{
	"by": true, "without": true, "on": true, "ignoring": true,
	"group_left": true, "group_right": true,
}

// InjectMatcher returns expr with matcher (for example `source="direct"`)
// added to every vector and range selector, so that the expression only sees
// the series that carry that label. It understands enough PromQL for the
// dashboards and rules of this repository: strings, comments, label lists of
// by/without/on/ignoring/group_left/group_right, range and subquery brackets,
// offset and @ modifiers, numbers, functions and aggregations.
func InjectMatcher(expr, matcher string) (string, error) {
	var out strings.Builder
	s := expr
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == '"' || c == '\'' || c == '`':
			j, err := skipString(s, i)
			if err != nil {
				return "", err
			}
			out.WriteString(s[i:j])
			i = j
		case c == '#':
			j := strings.IndexByte(s[i:], '\n')
			if j < 0 {
				j = len(s) - i
			}
			out.WriteString(s[i : i+j])
			i += j
		case c == '{':
			// A selector without a metric name: {__name__=~"..."}.
			j, err := copySelector(&out, s, i, matcher)
			if err != nil {
				return "", err
			}
			i = j
		case c == '[':
			j, err := skipBalanced(s, i, '[', ']')
			if err != nil {
				return "", err
			}
			out.WriteString(s[i:j])
			i = j
		case c == '@':
			// @ <timestamp> | @ start() | @ end()
			out.WriteByte(c)
			i++
			j := skipSpace(s, i)
			out.WriteString(s[i:j])
			i = j
			k := i
			for k < len(s) && (isIdent(s[k]) || s[k] == '.' || s[k] == '-' || s[k] == '+') {
				k++
			}
			out.WriteString(s[i:k])
			i = k
		case isDigit(c) || (c == '.' && i+1 < len(s) && isDigit(s[i+1])):
			j := scanNumber(s, i)
			out.WriteString(s[i:j])
			i = j
		case isIdentStart(c):
			j := i
			for j < len(s) && isIdent(s[j]) {
				j++
			}
			word := s[i:j]
			out.WriteString(word)
			i = j
			k := skipSpace(s, i)
			lower := strings.ToLower(word)
			switch {
			case labelLists[lower]:
				if k < len(s) && s[k] == '(' {
					e, err := skipBalanced(s, k, '(', ')')
					if err != nil {
						return "", err
					}
					out.WriteString(s[i:e])
					i = e
				}
			case lower == "offset":
				// offset [-]<duration>
				out.WriteString(s[i:k])
				i = k
				e := i
				if e < len(s) && s[e] == '-' {
					e++
				}
				for e < len(s) && (isIdent(s[e]) || s[e] == '.') {
					e++
				}
				out.WriteString(s[i:e])
				i = e
			case keywords[lower] || aggregations[lower]:
				// Nothing to add.
			case k < len(s) && s[k] == '(':
				// A function call.
			default:
				// A metric name, with or without a label selector.
				if k < len(s) && s[k] == '{' {
					out.WriteString(s[i:k])
					e, err := copySelector(&out, s, k, matcher)
					if err != nil {
						return "", err
					}
					i = e
				} else {
					out.WriteString("{" + matcher + "}")
				}
			}
		default:
			out.WriteByte(c)
			i++
		}
	}
	return out.String(), nil
}

// copySelector copies the label selector starting at s[open] == '{' to out
// with matcher added first, and returns the index after its closing brace.
func copySelector(out *strings.Builder, s string, open int, matcher string) (int, error) {
	end, err := skipBalanced(s, open, '{', '}')
	if err != nil {
		return 0, err
	}
	inner := s[open+1 : end-1]
	out.WriteByte('{')
	out.WriteString(matcher)
	if strings.TrimSpace(inner) != "" {
		out.WriteByte(',')
		out.WriteString(inner)
	}
	out.WriteByte('}')
	return end, nil
}

// skipBalanced returns the index just after the bracket that closes
// s[open], skipping string literals.
func skipBalanced(s string, open int, lb, rb byte) (int, error) {
	depth := 0
	for i := open; i < len(s); {
		switch s[i] {
		case '"', '\'', '`':
			j, err := skipString(s, i)
			if err != nil {
				return 0, err
			}
			i = j
			continue
		case lb:
			depth++
		case rb:
			depth--
			if depth == 0 {
				return i + 1, nil
			}
		}
		i++
	}
	return 0, fmt.Errorf("unbalanced %q at offset %d in %q", lb, open, s)
}

// skipString returns the index just after the string literal at s[i].
func skipString(s string, i int) (int, error) {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch {
		case s[j] == '\\' && q != '`':
			j++
		case s[j] == q:
			return j + 1, nil
		}
	}
	return 0, fmt.Errorf("unterminated string at offset %d in %q", i, s)
}

func scanNumber(s string, i int) int {
	j := i
	for j < len(s) {
		c := s[j]
		switch {
		case isIdent(c) || c == '.':
			j++
		case (c == '+' || c == '-') && (s[j-1] == 'e' || s[j-1] == 'E') && !strings.HasPrefix(strings.ToLower(s[i:j]), "0x"):
			j++
		default:
			return j
		}
	}
	return j
}

func skipSpace(s string, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\t' || s[i] == '\n' || s[i] == '\r') {
		i++
	}
	return i
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func isIdentStart(c byte) bool {
	return c == '_' || c == ':' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isIdent(c byte) bool { return isIdentStart(c) || isDigit(c) }
