package loadtest_test

import (
	"net"
	"os"
	"testing"
	"time"

	"github.com/sfu-project/sfu/loadtest"
)

// Environment of TestNATLabHelperProcess: the reflector runs in the
// server namespace, a prober in a client namespace.
const (
	reflectEnv = "SFU_NATLAB_REFLECT" // the server address to listen on
	probeEnv   = "SFU_NATLAB_PROBE"   // the server address to probe
)

// The reflector's two ports: a prober's mapping toward each.
const reflectPortA, reflectPortB = 4001, 4002

// probeReport is what a prober saw last: its source address as each
// reflector port saw it, and how many answers came.
type probeReport struct {
	A, B    string
	Answers int
}

// TestNATLabHelperProcess is the reflector or a prober; in a normal test
// run it does nothing.
func TestNATLabHelperProcess(t *testing.T) {
	if ip := os.Getenv(reflectEnv); ip != "" {
		reflectUDP(t, ip)
	}
	if ip := os.Getenv(probeEnv); ip != "" {
		probe(t, ip)
	}
}

// reflectUDP answers each datagram on either port with its source address.
func reflectUDP(t *testing.T, ip string) {
	gone := loadtest.ParentGone()
	for _, port := range []int{reflectPortA, reflectPortB} {
		conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.ParseIP(ip), Port: port})
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		go func() {
			buf := make([]byte, 1500)
			for {
				_, from, err := conn.ReadFromUDP(buf)
				if err != nil {
					return
				}
				_, _ = conn.WriteToUDP([]byte(from.String()), from)
			}
		}()
	}
	_ = loadtest.Report(probeReport{}) // ready
	<-gone
}

// probe sends from one socket to both reflector ports every 100 ms and
// reports what they saw.
func probe(t *testing.T, ip string) {
	gone := loadtest.ParentGone()
	conn, err := net.ListenUDP("udp4", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	a := &net.UDPAddr{IP: net.ParseIP(ip), Port: reflectPortA}
	b := &net.UDPAddr{IP: net.ParseIP(ip), Port: reflectPortB}
	var r probeReport
	buf := make([]byte, 1500)
	for {
		select {
		case <-gone:
			return
		default:
		}
		_, _ = conn.WriteToUDP([]byte("?"), a)
		_, _ = conn.WriteToUDP([]byte("?"), b)
		for end := time.Now().Add(100 * time.Millisecond); ; {
			_ = conn.SetReadDeadline(end)
			n, from, err := conn.ReadFromUDP(buf)
			if err != nil {
				break
			}
			r.Answers++
			if from.Port == reflectPortA {
				r.A = string(buf[:n])
			} else {
				r.B = string(buf[:n])
			}
		}
		_ = loadtest.Report(r)
	}
}

// TestNATLab checks that a NATLab's routers behave as their kinds say:
// masquerade maps one socket to one public address and port whatever
// the destination, fully-random to another port per destination; a
// rebind moves a flow already open to the new address; a blocked
// address gets nothing through; and Close leaves nothing behind.
func TestNATLab(t *testing.T) {
	lab := loadtest.NewTestNATLab(t, loadtest.NATMasquerade, loadtest.NATFullyRandom)
	server := lab.ServerIP.String()
	reflector, err := loadtest.StartSelfIn(lab.Server, []string{reflectEnv + "=" + server}, "-test.run=^TestNATLabHelperProcess$")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = reflector.Stop() })
	var r probeReport
	if ok, err := reflector.Next(&r, 15*time.Second); !ok || err != nil {
		t.Fatalf("reflector did not start: %v", err)
	}
	probers := make([]*loadtest.Child, len(lab.Sites))
	for i, s := range lab.Sites {
		if probers[i], err = loadtest.StartSelfIn(s.Client, []string{probeEnv + "=" + server}, "-test.run=^TestNATLabHelperProcess$"); err != nil {
			t.Fatal(err)
		}
		p := probers[i]
		t.Cleanup(func() { _ = p.Stop() })
	}
	// seen waits for site i's prober to be answered on both ports, by
	// answers more than after, and returns what it saw.
	seen := func(i, after int) probeReport {
		t.Helper()
		var r probeReport
		for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); {
			if ok, err := probers[i].Next(&r, time.Second); err != nil {
				t.Fatal(err)
			} else if ok && r.A != "" && r.B != "" && r.Answers > after+2 {
				return r
			}
		}
		t.Fatalf("site %d: %+v after 10 s", i, r)
		return r
	}
	split := func(addr string) (string, string) {
		h, p, _ := net.SplitHostPort(addr)
		return h, p
	}

	m := seen(0, 0)
	t.Logf("masquerade: %s and %s", m.A, m.B)
	if h, _ := split(m.A); m.A != m.B || h != lab.Sites[0].PublicIP.String() {
		t.Errorf("masquerade mapped one socket to %s and %s, want one mapping on %s", m.A, m.B, lab.Sites[0].PublicIP)
	}
	f := seen(1, 0)
	t.Logf("fully-random: %s and %s", f.A, f.B)
	ha, pa := split(f.A)
	hb, pb := split(f.B)
	if ha != lab.Sites[1].PublicIP.String() || hb != ha || pa == pb {
		t.Errorf("fully-random mapped one socket to %s and %s, want two ports on %s", f.A, f.B, lab.Sites[1].PublicIP)
	}

	rebound := net.IPv4(10, 250, 0, 101)
	if err := lab.Sites[0].RebindUDP(rebound); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(5 * time.Second); ; {
		m = seen(0, m.Answers)
		if h, _ := split(m.A); h == rebound.String() {
			t.Logf("rebound: %s and %s", m.A, m.B)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the rebind the flow still leaves as %s", m.A)
		}
	}

	if err := lab.Sites[1].BlockUDP(lab.ServerIP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // answers on their way arrive
	var before, after probeReport
	_, _ = probers[1].Latest(&before)
	time.Sleep(time.Second)
	_, _ = probers[1].Latest(&after)
	if after.Answers != before.Answers {
		t.Errorf("%d answers came through a router blocking the server", after.Answers-before.Answers)
	}
}
