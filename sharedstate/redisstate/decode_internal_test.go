package redisstate

import (
	"strings"
	"testing"
	"time"

	"github.com/fusebox-go/fusebox/breaker"
)

func TestDecodeMessage(t *testing.T) {
	j := func(f ...string) string { return strings.Join(f, sep) }
	rec, err := decodeMessage(j("1", "1000", "pay ments", "1700000000000001", "o", "31000", "failure_threshold", "c", "1700000000000001", "pod {7}"))
	if err != nil {
		t.Fatal(err)
	}
	if rec.Name != "pay ments" || rec.Epoch != 1700000000000001 || rec.State != breaker.Open || rec.Remaining != 30*time.Second ||
		rec.Reason != breaker.ReasonFailureThreshold || !rec.Cluster || rec.Forced || rec.By != "pod {7}" || rec.Written.UnixMicro() != 1700000000000001 {
		t.Fatalf("decoded %+v", rec)
	}
	for _, bad := range []string{
		"", "2" + sep + "x", j("1", "x", "n", "1", "o", "0", "-", "-", "0", "b"),
		j("1", "0", "", "1", "o", "0", "-", "-", "0", "b"),
		j("1", "0", "n", "0", "o", "0", "-", "-", "0", "b"),
		j("1", "0", "n", "1", "h", "0", "-", "-", "0", "b"),
		j("1", "0", "n", "1", "o", "0", "no_such_reason", "-", "0", "b"),
		j("1", "0", "n", "1", "o", "0", "-", "-", "0"),
	} {
		if _, err := decodeMessage(bad); err == nil {
			t.Errorf("decodeMessage(%q) accepted", bad)
		}
	}
}

// FuzzDecodeMessage: any payload decodes to a usable record or an error,
// never a panic.
func FuzzDecodeMessage(f *testing.F) {
	f.Add(strings.Join([]string{"1", "1000", "a", "5", "o", "2000", "trial_failed", "-", "5", "r"}, sep))
	f.Add(strings.Join([]string{"1", "1000", "a", "5", "c", "0", "reset", "f", "5", "r"}, sep))
	f.Add("1\x1f\x1f\x1f")
	f.Fuzz(func(t *testing.T, payload string) {
		rec, err := decodeMessage(payload)
		if err != nil {
			return
		}
		if rec.Name == "" || rec.Epoch == 0 || (rec.State != breaker.Open && rec.State != breaker.Closed) {
			t.Fatalf("decoded an unusable record %+v from %q", rec, payload)
		}
	})
}
