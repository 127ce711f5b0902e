package bench

import (
	"bufio"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/ddbcache/ddbcache/internal/testenv"
)

// TestProcTreeCPU: a process tree's CPU counts a live child's and a
// child that has exited and been reaped (cutime), as a FastCGI process
// manager's workers are counted. A Perl parent forks a child that burns
// 300 ms of CPU; the tree must account for it whether the child still
// runs or is gone.
func TestProcTreeCPU(t *testing.T) {
	const burn = `my $t = times; 1 while (times)[0] + (times)[1] - $t < 0.3;`
	for _, tc := range []struct {
		name, script string
		children     int // live children once the parent said "ready"
	}{
		{"live child", `my $pid = fork // die; if (!$pid) { ` + burn + ` sleep 60; exit 0 } $| = 1; print "ready\n"; <STDIN>;`, 1},
		{"reaped child", `my $pid = fork // die; if (!$pid) { ` + burn + ` exit 0 } waitpid $pid, 0; $| = 1; print "ready\n"; <STDIN>;`, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command("perl", "-e", tc.script)
			stdin, err := cmd.StdinPipe()
			if err != nil {
				t.Fatal(err)
			}
			out, err := cmd.StdoutPipe()
			if err != nil {
				t.Fatal(err)
			}
			if err := cmd.Start(); err != nil {
				t.Fatalf("perl: %v (install it: apt-get install -y perl)", err)
			}
			tree := procTree{root: cmd.Process.Pid}
			defer func() {
				for _, pid := range tree.pids()[1:] {
					_ = syscall.Kill(pid, syscall.SIGKILL)
				}
				stdin.Close()
				_ = cmd.Wait()
			}()
			if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "ready\n" {
				t.Fatalf("parent said %q, %v", line, err)
			}
			// A live child may still be burning: poll until its CPU shows.
			if err := testenv.Poll(30*time.Second, func() bool { return tree.cpu() >= 250*time.Millisecond }); err != nil {
				t.Errorf("tree CPU %s, want the child's 300 ms counted: %v", tree.cpu(), err)
			}
			if got := len(tree.pids()) - 1; got != tc.children {
				t.Errorf("%d live children, want %d", got, tc.children)
			}
		})
	}
}
