package clock_test

import (
	"context"
	"fmt"
	"log"
	"time"

	"github.com/beevik/ntp"

	"github.com/reachd/reachd/clock"
)

func Example() {
	// Three servers whose answers put our clock 30ms, 40ms and 2s behind;
	// the median ignores the outlier. In production leave Query nil.
	offsets := map[string]time.Duration{
		"ntp1.example:123": 30 * time.Millisecond,
		"ntp2.example:123": 40 * time.Millisecond,
		"ntp3.example:123": 2 * time.Second,
	}
	c, err := clock.New(clock.Config{
		Servers: []string{"ntp1.example:123", "ntp2.example:123", "ntp3.example:123"},
		Query: func(server string, _ ntp.QueryOptions) (*ntp.Response, error) {
			now := time.Now()
			return &ntp.Response{ClockOffset: offsets[server], Version: 4, Stratum: 2,
				Time: now, ReferenceTime: now.Add(-time.Minute)}, nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	off, err := c.Sync(context.Background())
	if err != nil {
		log.Fatal(err)
	}
	st := c.Status()
	fmt.Println(off, st.Answered, st.Asked)
	// c.Now() is now time.Now() + 40ms; c.Run(ctx, 5*time.Minute) keeps it fresh.
	// Output: 40ms 3 3
}
