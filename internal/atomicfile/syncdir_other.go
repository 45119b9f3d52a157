//go:build !windows

package atomicfile

import (
	"fmt"
	"os"
)

// SyncDir syncs directory dir, so the names created or renamed in it are on
// disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("syncing directory %s: %w", dir, err)
	}
	return nil
}
