package sharedstatetest_test

import (
	"testing"

	"github.com/fusebox-go/fusebox/sharedstate"
	"github.com/fusebox-go/fusebox/sharedstate/sharedstatetest"
)

func TestInMemoryStore(t *testing.T) {
	store := sharedstatetest.NewStore()
	sharedstatetest.TestStore(t, func(*testing.T) sharedstate.Store { return store.Client() })
}
