package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// documents are the Markdown files whose links must resolve: the README,
// the other top-level documents, bench/README.md and every file in docs/.
func documents(t *testing.T, kit Kit) []string {
	t.Helper()
	docs := []string{"README.md", "GUARANTEES.md", "CHANGELOG.md", filepath.Join("bench", "README.md")}
	more, err := filepath.Glob(kit.Path("docs", "*.md"))
	require.NoError(t, err)
	require.NotEmpty(t, more, "docs/*.md")
	for _, m := range more {
		rel, err := filepath.Rel(kit.Root, m)
		require.NoError(t, err)
		docs = append(docs, rel)
	}
	return docs
}

var (
	fence      = regexp.MustCompile("^\\s*(```|~~~)")
	heading    = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	codeSpan   = regexp.MustCompile("`[^`]*`")
	mdLink     = regexp.MustCompile(`\[[^\]]*\]\(([^)\s]+)(?:\s+"[^"]*")?\)`)
	linkInText = regexp.MustCompile(`\[([^\]]*)\]\([^)]*\)`)
)

// proseLines returns a Markdown file's lines outside fenced code blocks,
// by line number (from 1).
func proseLines(text string) map[int]string {
	out := map[int]string{}
	in := false
	for i, line := range strings.Split(text, "\n") {
		if fence.MatchString(line) {
			in = !in
			continue
		}
		if !in {
			out[i+1] = line
		}
	}
	return out
}

// anchors returns the anchors GitHub gives a Markdown file's headings:
// lower case, punctuation dropped, spaces as hyphens, and -1, -2 ... for
// repeats.
func anchors(text string) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	lines := proseLines(text)
	for n := 1; n <= len(strings.Split(text, "\n")); n++ {
		line, ok := lines[n]
		if !ok {
			continue
		}
		m := heading.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		title := linkInText.ReplaceAllString(m[2], "$1")
		var b strings.Builder
		for _, r := range strings.ToLower(title) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsNumber(r):
				b.WriteRune(r)
			}
		}
		slug := b.String()
		if n := seen[slug]; n > 0 {
			out[slug+"-"+strconv.Itoa(n)] = true
		} else {
			out[slug] = true
		}
		seen[slug]++
	}
	return out
}

// TestDocsLinksResolve checks every relative link and #anchor of the
// documents: the file exists, and a Markdown file has a heading with that
// anchor.
func TestDocsLinksResolve(t *testing.T) {
	kit, err := FindKit()
	require.NoError(t, err)
	cache := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := cache[path]; ok {
			return a
		}
		raw, err := os.ReadFile(path)
		require.NoError(t, err)
		cache[path] = anchors(string(raw))
		return cache[path]
	}
	for _, doc := range documents(t, kit) {
		raw, err := os.ReadFile(kit.Path(doc))
		require.NoError(t, err, doc)
		for n, line := range proseLines(string(raw)) {
			for _, m := range mdLink.FindAllStringSubmatch(codeSpan.ReplaceAllString(line, ""), -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				path := kit.Path(doc)
				if file != "" {
					path = filepath.Join(filepath.Dir(kit.Path(doc)), filepath.FromSlash(file))
					if _, err := os.Stat(path); !assert.NoError(t, err, "%s:%d: link %q", doc, n, target) {
						continue
					}
				}
				if anchor != "" && strings.HasSuffix(path, ".md") {
					assert.True(t, anchorsOf(path)[anchor], "%s:%d: link %q: no heading with anchor #%s in %s", doc, n, target, anchor, filepath.Base(path))
				}
			}
		}
	}
}

func TestAnchorsAsGitHubMakesThem(t *testing.T) {
	got := anchors("# fusebox\n## net/http\n## Checked end to end: `make e2e`\n```sh\n# not a heading\n```\n## The [kit](x.md) again\n## Notes\n## Notes\n### What `Stats` says (`total_calls`)\n")
	assert.Equal(t, map[string]bool{
		"fusebox": true, "nethttp": true, "checked-end-to-end-make-e2e": true,
		"the-kit-again": true, "notes": true, "notes-1": true,
		"what-stats-says-total_calls": true,
	}, got)
}
