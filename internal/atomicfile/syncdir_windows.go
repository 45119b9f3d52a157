package atomicfile

// SyncDir does nothing on Windows, which cannot sync a directory (a
// directory handle refuses FlushFileBuffers); the rename is a metadata
// change, which NTFS journals.
func SyncDir(dir string) error { return nil }
