package identity_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/reachd/reachd/identity"
)

// A second daemon on the same data dir would run as the same node. Its lock
// attempt fails, naming the holder; once the holder lets go, it succeeds.
func TestSecondDaemonOnDataDirRefused(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	first, err := identity.LockDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	// flock belongs to the open file: a second open in this process is
	// refused like another process would be.
	_, err = identity.LockDataDir(dir)
	var le *identity.LockedError
	if !errors.As(err, &le) || !errors.Is(err, identity.ErrDataDirLocked) {
		t.Fatalf("second lock: %v, want a *LockedError", err)
	}
	if le.PID != os.Getpid() || le.Dir != dir {
		t.Errorf("LockedError = %+v, want pid %d and dir %s", le, os.Getpid(), dir)
	}
	for _, want := range []string{dir, fmt.Sprintf("pid %d", os.Getpid()), "--data-dir"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("message %q lacks %q", err, want)
		}
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := identity.LockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after release: %v", err)
	}
	again.Close()
	again.Close() // twice is fine
}

const lockChildEnv = "IDENTITY_LOCK_CHILD_DIR"

// Another process holds the lock: the message names its PID, and when that
// process dies without releasing it, the lock is free again.
func TestDataDirLockHeldByOtherProcess(t *testing.T) {
	if dir := os.Getenv(lockChildEnv); dir != "" {
		l, err := identity.LockDataDir(dir)
		if err != nil {
			fmt.Println("ERR", err)
			os.Exit(2)
		}
		fmt.Println("LOCKED", l.Path())
		os.Stdin.Read(make([]byte, 1)) // hold until killed
		os.Exit(0)
	}
	if runtime.GOOS == "windows" || runtime.GOOS == "plan9" {
		t.Skip("flock semantics tested on Unix")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDataDirLockHeldByOtherProcess$")
	cmd.Env = append(os.Environ(), lockChildEnv+"="+dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	if !sc.Scan() || !strings.HasPrefix(sc.Text(), "LOCKED ") {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("child: %q %v", sc.Text(), sc.Err())
	}

	_, err = identity.LockDataDir(dir)
	var le *identity.LockedError
	if !errors.As(err, &le) || le.PID != cmd.Process.Pid {
		t.Errorf("lock held by child %d: %v", cmd.Process.Pid, err)
	}

	cmd.Process.Kill() // dies holding the lock
	cmd.Wait()
	l, err := identity.LockDataDir(dir)
	if err != nil {
		t.Fatalf("lock after the holder died: %v", err)
	}
	l.Close()
}

// A node key that group or others may read is refused, as ssh refuses such
// a private key, with the command that fixes it.
func TestKeyFileReadableByOthersRefused(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix permission bits")
	}
	tests := []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true},
		{0o400, true},
		{0o644, false},
		{0o640, false},
		{0o604, false},
		{0o620, false},
		{0o666, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%04o", tt.mode), func(t *testing.T) {
			dir := t.TempDir()
			want, err := identity.LoadOrCreate(dir)
			if err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(dir, identity.KeyFileName)
			if err := os.Chmod(path, tt.mode); err != nil {
				t.Fatal(err)
			}
			got, err := identity.LoadOrCreate(dir)
			if tt.ok {
				if err != nil || got.NodeID() != want.NodeID() {
					t.Fatalf("LoadOrCreate: %v", err)
				}
				return
			}
			var kfe *identity.KeyFileError
			if !errors.As(err, &kfe) || !errors.Is(err, identity.ErrKeyTooOpen) || kfe.Path != path {
				t.Fatalf("LoadOrCreate: %v, want a *KeyFileError matching ErrKeyTooOpen", err)
			}
			for _, s := range []string{fmt.Sprintf("%04o", tt.mode), "too open", "chmod 600 " + path} {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("message %q lacks %q", err, s)
				}
			}
			if st, err := os.Stat(path); err != nil || st.Mode().Perm() != tt.mode {
				t.Errorf("key file changed: %v %v", st.Mode(), err)
			}
		})
	}
}
