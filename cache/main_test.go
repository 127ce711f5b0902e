package cache_test

import (
	"os"
	"testing"

	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestMain stops the Redis Cluster that the cluster tests share.
func TestMain(m *testing.M) { os.Exit(testenv.Main(m)) }
