// Command boomerworker is a boomer v1.6.0 worker for the tests of package locust:
// each user GETs the target until the whole worker has sent -requests requests,
// then idles. It exits when the master says quit, or after -lifetime whatever
// happens. Flags: its own, and boomer's (--master-host, --master-port), which
// boomer registers on the global flag set and parses itself.
package main

import (
	"flag"
	"io"
	"log"
	"net/http"
	"os"
	"sync/atomic"
	"time"

	"github.com/myzhan/boomer"
)

func main() {
	target := flag.String("target", "", "URL every request GETs (loopback only)")
	budget := flag.Int64("requests", 100, "requests the whole worker sends, then it idles")
	lifetime := flag.Duration("lifetime", time.Minute, "exit after this long whatever happens")
	pause := flag.Duration("pause", 5*time.Millisecond, "pause after each request")
	// boomer.Run parses the global flag set (its flags and these).
	var sent atomic.Int64
	client := &http.Client{Timeout: 10 * time.Second}
	task := &boomer.Task{Name: "get", Weight: 1, Fn: func() {
		if sent.Add(1) > *budget {
			time.Sleep(20 * time.Millisecond)
			return
		}
		start := time.Now()
		resp, err := client.Get(*target)
		elapsed := time.Since(start).Milliseconds()
		if err != nil {
			boomer.RecordFailure("GET", "/", elapsed, err.Error())
			return
		}
		n, _ := io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			boomer.RecordFailure("GET", "/", elapsed, resp.Status)
		} else {
			boomer.RecordSuccess("GET", "/", elapsed, n)
		}
		time.Sleep(*pause)
	}}
	go func() {
		time.Sleep(*lifetime)
		log.Printf("boomerworker: lifetime over, exiting")
		os.Exit(3)
	}()
	boomer.Run(task)
}
