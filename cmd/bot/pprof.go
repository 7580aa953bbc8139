//go:build pprof

package main

// A bot built with -tags pprof serves net/http/pprof on PPROF_ADDR (e.g.
// 127.0.0.1:6060), for profiling it under cmd/loadbench. Release builds do
// not contain it.

import (
	"fmt"
	"net/http"
	_ "net/http/pprof" // registers /debug/pprof on http.DefaultServeMux
	"os"
)

func init() {
	addr := os.Getenv("PPROF_ADDR")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			fmt.Fprintln(os.Stderr, "bot: pprof:", err)
		}
	}()
}
