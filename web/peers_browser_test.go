package web_test

import (
	"context"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/reachd/reachd/address"
	"github.com/reachd/reachd/node/nodetest"
	"github.com/reachd/reachd/rendezvous/rendezvoustest"
	"github.com/reachd/reachd/server"
)

// TestDashboardPeerNames: a peer with an address book entry is shown by
// its name in the connections table.
func TestDashboardPeerNames(t *testing.T) {
	rv := rendezvoustest.Start(t)
	a := nodetest.Start(t, rv)
	b := nodetest.Start(t, rv)
	if _, _, err := a.PutPeer("bee", "", b.ID()); err != nil {
		t.Fatal(err)
	}
	apiA := startAPI(t, server.Config{Node: a})
	br := newBrowser(t)
	br.do(chromedp.Navigate("http://" + apiA.Addr() + "/"))
	br.waitJS("the node ID is shown", `document.getElementById("node-id").textContent === %s`, a.ID())
	addr, err := address.Parse(b.Address())
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := a.Connect(ctx, addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br.waitJS("the connection's peer is shown by its name", `(() => { const td = document.querySelector('#conn-rows tr[data-id=%s] .c-peer'); return td !== null && td.textContent.startsWith("bee"); })()`, c.ID())
}
