package relay

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"testing"
)

// TestCourtesyKeepsOrderPerTarget: calls for one target run one at a time
// in the order queued; other targets are not held up by it.
func TestCourtesyKeepsOrderPerTarget(t *testing.T) {
	c := newCourtesy(slog.New(slog.DiscardHandler), newTasks())
	var (
		mu  sync.Mutex
		got = map[string][]int{}
		wg  sync.WaitGroup
	)
	for i := range 200 {
		target := []string{"a", "b"}[i%2]
		wg.Add(1)
		c.do(target, slog.LevelDebug, func(context.Context) error {
			defer wg.Done()
			mu.Lock()
			got[target] = append(got[target], i)
			mu.Unlock()
			return nil
		})
	}
	wg.Wait()
	for _, target := range []string{"a", "b"} {
		if !slices.IsSorted(got[target]) || len(got[target]) != 100 {
			t.Errorf("target %s ran %v", target, got[target])
		}
	}
}
