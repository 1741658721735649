package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/reachd/reachd/internal/natlab"
)

// buildPunchLab builds internal/e2e/punchlab, which runs one side of a
// birthday punch in a lab host, and returns its path.
func buildPunchLab(tb testing.TB) string {
	tb.Helper()
	bin := filepath.Join(tb.TempDir(), "punchlab")
	out, err := exec.Command("go", "build", "-o", bin, "github.com/reachd/reachd/internal/e2e/punchlab").CombinedOutput()
	if err != nil {
		tb.Fatalf("build punchlab: %v\n%s", err, out)
	}
	return bin
}

// birthdayTrial runs one birthday punch between hard (behind the Hard
// router rh) and easy (behind the Easy router re) with n SYNs on the hard
// side and m on the easy side, meeting 300ms from now on the machine's
// clock, from the easy side's port port. It returns whether both sides
// connected and how long after the meeting time the easy side did.
func birthdayTrial(tb testing.TB, bin string, rh, re *natlab.Router, hard, easy *natlab.Host, n, m, port int) (bool, time.Duration, string) {
	at := time.Now().Add(300 * time.Millisecond).UnixNano()
	var wg sync.WaitGroup
	outs := make([]string, 2)
	run := func(k int, h *natlab.Host, args ...string) {
		defer wg.Done()
		out, err := h.Command(tb.Context(), bin, append(args, "-at", fmt.Sprint(at))...).CombinedOutput()
		outs[k] = strings.TrimSpace(string(out))
		if err != nil {
			outs[k] += " " + err.Error()
		}
	}
	wg.Add(2)
	go run(0, hard, "-side", "hard", "-syns", fmt.Sprint(n),
		"-local", fmt.Sprintf("%s:0", hard.IP()), "-remote", fmt.Sprintf("%s:%d", re.WANIP(), port))
	go run(1, easy, "-side", "easy", "-syns", fmt.Sprint(m),
		"-local", fmt.Sprintf("%s:%d", easy.IP(), port), "-remote", fmt.Sprintf("%s:0", rh.WANIP()))
	wg.Wait()
	if !strings.HasPrefix(outs[0], "ok") || !strings.HasPrefix(outs[1], "ok") {
		return false, 0, "hard: " + outs[0] + "; easy: " + outs[1]
	}
	ms, _ := strconv.Atoi(strings.TrimPrefix(outs[1], "ok "))
	return true, time.Duration(ms) * time.Millisecond, ""
}

// BenchmarkBirthdayPunch measures the birthday punch (package punch,
// Birthday) between a host behind a Hard NAT (random ports) and one behind
// an Easy NAT, without the node: the success rate over
// REACHD_BIRTHDAY_TRIALS trials (default 50) per point, and the median
// time from the meeting time to the connection, against the SYN budgets
// N (hard side) x M (easy side), on routers that drop unsolicited SYNs
// and, at the default budget, on routers that reset them. Run it with
//
//	CI=true go test -run '^$' -bench BirthdayPunch -benchtime 1x -timeout 60m ./internal/e2e
//
// README.md ("Birthday punching") has the table it measured.
func BenchmarkBirthdayPunch(b *testing.B) {
	trials := 50
	if v, err := strconv.Atoi(os.Getenv("REACHD_BIRTHDAY_TRIALS")); err == nil && v > 0 {
		trials = v
	}
	bin := buildPunchLab(b)
	silent, reset := []natlab.RouterOption(nil), []natlab.RouterOption{natlab.RejectWithReset()}
	for _, p := range []struct {
		name       string
		n, m       int
		hard, easy []natlab.RouterOption
	}{
		{"silent/128x128", 128, 128, silent, silent},
		{"silent/256x256", 256, 256, silent, silent},
		{"silent/512x512", 512, 512, silent, silent},
		{"silent/1024x1024", 1024, 1024, silent, silent},
		{"silent/1024x256", 1024, 256, silent, silent},
		{"silent/256x1024", 256, 1024, silent, silent},
		{"hard_resets/1024x1024", 1024, 1024, reset, silent},
		{"easy_resets/1024x1024", 1024, 1024, silent, reset},
		{"both_reset/1024x1024", 1024, 1024, reset, reset},
	} {
		b.Run(p.name, func(b *testing.B) {
			lab := natlab.New(b)
			rh, re := lab.AddRouter(natlab.Hard, p.hard...), lab.AddRouter(natlab.Easy, p.easy...)
			hard, easy := rh.AddHost(), re.AddHost()
			var ok int
			var times []time.Duration
			for range b.N {
				ok, times = 0, nil
				for i := range trials {
					hit, took, why := birthdayTrial(b, bin, rh, re, hard, easy, p.n, p.m, 20000+i)
					if !hit {
						b.Logf("trial %d: %s", i, why)
						continue
					}
					ok++
					times = append(times, took)
				}
			}
			slices.Sort(times)
			b.ReportMetric(float64(ok)/float64(trials), "success")
			if len(times) > 0 {
				b.ReportMetric(punchMS(times[len(times)/2]), "connect-p50-ms")
			}
			b.Logf("%s: %d of %d connected", p.name, ok, trials)
		})
	}
}

// TestBirthdayPunchHardEasy connects, through the REST API, a node behind
// a Hard NAT (random ports) and one behind an Easy NAT by the punch
// strategy alone, which a plain punch cannot serve (the plan skipped it
// before birthday punching): three fresh connects, from each side, must
// all succeed by punch. BenchmarkBirthdayPunch measures the rates.
func TestBirthdayPunchHardEasy(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{
		"hard": lab.AddRouter(natlab.Hard).AddHost(),
		"easy": lab.AddRouter(natlab.Easy).AddHost(),
	})
	hard, easy := nodes["hard"], nodes["easy"]
	for i, pair := range [][2]*labNode{{hard, easy}, {easy, hard}, {hard, easy}} {
		from, to := pair[0], pair[1]
		status, c, took := punchFresh(t, from, to, 15*time.Second)
		if status != http.StatusCreated || c.Strategy != "punch" {
			t.Fatalf("connect %d, %s -> %s: status %d, strategy %q, want 201 by punch: %s %+v", i+1, from.name, to.name, status, c.Strategy, c.Detail, c.Attempts)
		}
		from.close(t, c.ID)
		t.Logf("connect %d, %s -> %s: birthday punch in %v", i+1, from.name, to.name, took.Round(time.Millisecond))
	}
}

// TestBirthdayUpgradesRelay: between a hard NAT and an easy one the default
// race answers on the relay (it has a head start over a birthday punch,
// which the plan rates only possible), and the link's first upgrade
// attempts race the birthday punch too: the connection moves to a punched
// path on its own.
func TestBirthdayUpgradesRelay(t *testing.T) {
	lab := natlab.New(t)
	ntp := lab.StartNTP(t)
	wan := startRendezvous(t, lab)
	nodes := startLabNodes(t, wan, ntp.Addr().String(), map[string]*natlab.Host{
		"hard": lab.AddRouter(natlab.Hard).AddHost(),
		"easy": lab.AddRouter(natlab.Easy).AddHost(),
	})
	hard, easy := nodes["hard"], nodes["easy"]
	status, c := connect(t, easy, hard)
	if status != http.StatusCreated {
		t.Fatalf("connect: status %d: %s %+v", status, c.Detail, c.Attempts)
	}
	t.Logf("the race answered by %s", c.Strategy)
	deadline := time.Now().Add(30 * time.Second) // upgrades at 1 s and 5 s, each a 10 s race at most
	for {
		got := easy.conn(t, c.ID)
		if got.Strategy == "punch" {
			hist, _ := gaps(got.Paths)
			t.Logf("paths: %s", hist)
			return
		}
		if time.Now().After(deadline) {
			hist, _ := gaps(got.Paths)
			t.Fatalf("connection still on %s after 30 s (paths %s), want a punched path", got.Strategy, hist)
		}
		time.Sleep(200 * time.Millisecond)
	}
}
