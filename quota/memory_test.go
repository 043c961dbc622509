package quota

import (
	"testing"

	"github.com/airlock-broker/airlock/broker"
)

func TestMemory(t *testing.T) {
	testStore(t, func(t *testing.T, cfg map[string]broker.ServerLimits, opts Options) *Store {
		return NewMemory(cfg, opts)
	})
}
