// Command fcgi-floor answers every FastCGI request with the same small JSON
// body through plain net/http/fcgi: no cache, no Redis, no work. It is the
// floor of what any handler served by net/http/fcgi can do behind nginx on
// a given machine; `FLOOR=1 bash scripts/bench-fcgi.sh` puts it where
// ddbcache's FastCGI socket would be.
//
//	go run ./scripts/fcgi-floor /path/to/fcgi.sock
package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/fcgi"
	"os"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: fcgi-floor SOCKET")
		os.Exit(2)
	}
	path := os.Args[1]
	_ = os.Remove(path)
	ln, err := net.Listen("unix", path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fcgi-floor:", err)
		os.Exit(1)
	}
	if err := os.Chmod(path, 0o666); err != nil {
		fmt.Fprintln(os.Stderr, "fcgi-floor:", err)
		os.Exit(1)
	}
	body := []byte(`{"email":"user1@example.com","logins":7,"name":"User 1","plan":"free","user_id":"1"}`)
	err = fcgi.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(body)
	}))
	fmt.Fprintln(os.Stderr, "fcgi-floor:", err)
	os.Exit(1)
}
