package bench

import (
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// FrontFCGI is --front fcgi: every lookup is an HTTP GET to a real
// nginx, which passes it over FastCGI either to the daemon's endpoint
// (target ddbcache) or to a Perl app written the blog's way (target
// perl-app), so that the two backends' CPU per request can be compared
// behind the same web server.
const FrontFCGI = "fcgi"

// TargetPerlApp is the blog-pattern Perl app behind nginx (--front fcgi).
const TargetPerlApp = "perl-app"

// FrontTargets are the targets --front fcgi knows, in their order.
var FrontTargets = []string{TargetDDBCache, TargetPerlApp}

// DefaultAppWorkers is how many FastCGI workers the Perl app forks.
const DefaultAppWorkers = 4

// frontStartTimeout bounds how long nginx and the Perl app may take to answer.
const frontStartTimeout = 30 * time.Second

// blogApp is the Perl app; see its header.
//
//go:embed blog.psgi
var blogApp []byte

// front is nginx and the Perl app of a --front fcgi run.
type front struct {
	dir   string
	nginx *child
	app   *child
	// httpSock is nginx's listening socket (a Unix socket: no port to pick).
	httpSock string
}

// addFrontTargets starts the Perl app and nginx in front of it and of
// the spawned daemon's FastCGI socket, and adds the HTTP targets.
// redisAddr is the relay (or Redis): the app's Redis, as it is the daemon's.
func (b *Bench) addFrontTargets(redisAddr string) error {
	if b.fcgiSocket == "" {
		return errors.New("bench: --front fcgi: the spawned daemon has no FastCGI socket")
	}
	dir, err := b.tempDir()
	if err != nil {
		return err
	}
	f := &front{dir: dir, httpSock: filepath.Join(dir, "http.sock")}
	b.front = f
	if f.app, err = b.startApp(dir, redisAddr); err != nil {
		return err
	}
	b.onClose(f.app.stop)
	if f.nginx, err = startNginx(dir, f.httpSock, b.fcgiSocket, filepath.Join(dir, "blog.sock")); err != nil {
		return err
	}
	b.onClose(f.nginx.stop)
	for _, name := range b.opts.Targets {
		t := &target{name: name, index: len(b.targets), res: result{hist: newHistogram()}, frontProc: f.nginx.tree()}
		switch name {
		case TargetDDBCache:
			t.op = httpOp(f.client(b.opts.Concurrency), "/v1/"+b.item.ns.Name+"/", &t.ctr)
			t.backend = procTree{root: b.daemonPID}
		case TargetPerlApp:
			t.op = httpOp(f.client(b.opts.Concurrency), "/blog/"+b.item.ns.Name+"/", &t.ctr)
			t.backend = f.app.tree()
		default:
			return fmt.Errorf("bench: --front fcgi: unknown target %q (known: %s)", name, strings.Join(FrontTargets, ", "))
		}
		if err := f.waitReady(t); err != nil {
			return err
		}
		b.targets = append(b.targets, t)
	}
	return nil
}

// startApp writes the Perl app and starts it under plackup -s FCGI with
// --procs FCGI::ProcManager workers.
func (b *Bench) startApp(dir, redisAddr string) (*child, error) {
	if _, err := exec.LookPath("plackup"); err != nil {
		return nil, errors.New("bench: --front fcgi needs plackup and the app's modules: " +
			"apt-get install -y libplack-perl libfcgi-procmanager-perl libredis-perl libcpanel-json-xs-perl")
	}
	env, err := b.blogEnv("--front fcgi", redisAddr)
	if err != nil {
		return nil, err
	}
	psgi := filepath.Join(dir, "blog.psgi")
	if err := os.WriteFile(psgi, blogApp, 0o644); err != nil {
		return nil, fmt.Errorf("bench: %w", err)
	}
	lib, err := writePerlLib(dir)
	if err != nil {
		return nil, err
	}
	cmd := exec.Command("plackup", "-I", lib, "-s", "FCGI", "--listen", filepath.Join(dir, "blog.sock"),
		"--nproc", strconv.Itoa(b.opts.Procs), "-E", "deployment", psgi)
	cmd.Env = append(os.Environ(), env...)
	return startChild("the Perl app (plackup)", cmd, filepath.Join(dir, "blog.log"))
}

// nginxConf is the web server: /v1/ to the daemon (as
// deploy/nginx/ddbcache.conf passes /api/: kept FastCGI connections),
// /blog/ to the Perl app (SCRIPT_NAME empty and PATH_INFO the path, as
// Plack::Handler::FCGI wants; FCGI.pm closes each connection).
const nginxConf = `daemon off;
worker_processes 1;
pid {{dir}}/nginx.pid;
error_log {{dir}}/nginx-error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path {{dir}}/body;
    fastcgi_temp_path {{dir}}/fastcgi;
    proxy_temp_path {{dir}}/proxy;
    uwsgi_temp_path {{dir}}/uwsgi;
    scgi_temp_path {{dir}}/scgi;
    upstream ddbcache {
        server unix:{{daemon}};
        keepalive 32;
    }
    server {
        listen unix:{{http}};
        location /v1/ {
            include {{dir}}/fastcgi_params;
            fastcgi_keep_conn on;
            fastcgi_pass ddbcache;
        }
        location /blog/ {
            include {{dir}}/fastcgi_params;
            fastcgi_param SCRIPT_NAME "";
            fastcgi_param PATH_INFO $uri;
            fastcgi_pass unix:{{app}};
        }
    }
}
`

// fastcgiParams is what nginx's stock fastcgi_params passes.
const fastcgiParams = `fastcgi_param QUERY_STRING $query_string;
fastcgi_param REQUEST_METHOD $request_method;
fastcgi_param CONTENT_TYPE $content_type;
fastcgi_param CONTENT_LENGTH $content_length;
fastcgi_param SCRIPT_NAME $fastcgi_script_name;
fastcgi_param REQUEST_URI $request_uri;
fastcgi_param DOCUMENT_URI $document_uri;
fastcgi_param DOCUMENT_ROOT $document_root;
fastcgi_param SERVER_PROTOCOL $server_protocol;
fastcgi_param REQUEST_SCHEME $scheme;
fastcgi_param GATEWAY_INTERFACE CGI/1.1;
fastcgi_param SERVER_SOFTWARE nginx/$nginx_version;
fastcgi_param REMOTE_ADDR $remote_addr;
fastcgi_param REMOTE_PORT $remote_port;
fastcgi_param SERVER_ADDR $server_addr;
fastcgi_param SERVER_PORT $server_port;
fastcgi_param SERVER_NAME $server_name;
`

// startNginx writes the configuration and starts nginx in the foreground.
func startNginx(dir, httpSock, daemonSock, appSock string) (*child, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/nginx"); serr != nil {
			return nil, errors.New("bench: --front fcgi needs nginx: apt-get install -y nginx")
		}
		bin = "/usr/sbin/nginx"
	}
	// Run as root (a container, CI), nginx's workers would be nobody,
	// who cannot reach the bench's private sockets: keep them root.
	user := ""
	if os.Geteuid() == 0 {
		user = "user root;\n"
	}
	conf := user + strings.NewReplacer("{{dir}}", dir, "{{http}}", httpSock, "{{daemon}}", daemonSock, "{{app}}", appSock).Replace(nginxConf)
	for name, text := range map[string]string{"nginx.conf": conf, "fastcgi_params": fastcgiParams} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			return nil, fmt.Errorf("bench: %w", err)
		}
	}
	cmd := exec.Command(bin, "-p", dir+"/", "-c", filepath.Join(dir, "nginx.conf"), "-e", filepath.Join(dir, "nginx-error.log"))
	return startChild("nginx", cmd, filepath.Join(dir, "nginx.log"))
}

// client is an HTTP client to nginx's socket, keeping one connection per worker.
func (f *front) client(conns int) *http.Client {
	var d net.Dialer
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return d.DialContext(ctx, "unix", f.httpSock)
		},
		MaxIdleConns: conns, MaxIdleConnsPerHost: conns, DisableCompression: true,
	}}
}

// waitReady polls target t's first key until it answers 200, nginx or the
// app exits, or frontStartTimeout passes.
func (f *front) waitReady(t *target) error {
	deadline := time.Now().Add(frontStartTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		err := t.op(context.Background(), []int{0}, false)
		if err == nil {
			t.ctr.reset()
			return nil
		}
		for _, c := range []*child{f.nginx, f.app} {
			if c.hasExited() {
				return fmt.Errorf("bench: %s exited: %s", c.name, c.logTail())
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("bench: %s behind nginx did not answer within %s: %w (logs: %s)", t.name,
				frontStartTimeout, err, oneLine(f.nginx.logTail()+" "+f.errorLogTail()+" "+f.app.logTail()))
		}
		<-tick.C
	}
}

// httpOp GETs base+key; the Perl app's X-Bench-Source header ("redis" or
// "dynamodb") and X-Bench-RCU count its hits, reads and capacity (the
// daemon's come from DDB STATS).
func httpOp(c *http.Client, base string, ctr *counters) opFunc {
	return func(ctx context.Context, keys []int, _ bool) error {
		i := keys[0]
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://bench"+base+KeyName(i), nil)
		if err != nil {
			return fmt.Errorf("bench: %w", err)
		}
		res, err := c.Do(req)
		if err != nil {
			return fmt.Errorf("bench: GET %s: %w", base, err)
		}
		body, err := io.ReadAll(res.Body)
		res.Body.Close()
		if err != nil {
			return fmt.Errorf("bench: GET %s: %w", base, err)
		}
		if res.StatusCode != http.StatusOK {
			return fmt.Errorf("bench: GET %s%s: HTTP %d: %.100s", base, KeyName(i), res.StatusCode, body)
		}
		switch res.Header.Get("X-Bench-Source") {
		case "redis":
			ctr.redisHits.Add(1)
		case "dynamodb":
			ctr.misses.Add(1)
			ctr.dynamoReads.Add(1)
			if rcu, err := strconv.ParseFloat(res.Header.Get("X-Bench-RCU"), 64); err == nil {
				ctr.rcuMilli.Add(int64(rcu * 1000))
			}
		}
		return nil
	}
}

// errorLogTail is the end of nginx's error log.
func (f *front) errorLogTail() string {
	return (&child{log: filepath.Join(f.dir, "nginx-error.log")}).logTail()
}
