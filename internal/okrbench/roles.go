package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"
	"github.com/larksuite/oapi-sdk-go/v3/core/httpserverext"
	"github.com/larksuite/oapi-sdk-go/v3/event/dispatcher"
	larkim "github.com/larksuite/oapi-sdk-go/v3/service/im/v1"
)

// Roles the tool's own binary runs as, in a process of its own, to compare
// okrbot's acknowledgement path with.
const (
	roleGinNoop = "gin-noop" // gin, reads the body, answers 200 {}
	roleSDK     = "sdk"      // the SDK's webhook dispatcher with a no-op receive_v1 handler
)

// runRole serves one comparison server on addr until SIGTERM/SIGINT.
func runRole(role, addr string) int {
	var h http.Handler
	switch role {
	case roleGinNoop:
		gin.SetMode(gin.ReleaseMode)
		g := gin.New()
		g.POST(eventPath, func(c *gin.Context) {
			if _, err := io.ReadAll(c.Request.Body); err != nil {
				c.Status(http.StatusBadRequest)
				return
			}
			c.Data(http.StatusOK, "application/json; charset=utf-8", []byte("{}"))
		})
		g.GET("/healthz", func(c *gin.Context) { c.Status(http.StatusOK) })
		h = g
	case roleSDK:
		// Same verification token and encrypt key as the bot; the SDK's
		// defaults otherwise (signature checked, info-level logger).
		d := dispatcher.NewEventDispatcher(verificationToken, encryptKey).
			OnP2MessageReceiveV1(func(context.Context, *larkim.P2MessageReceiveV1) error { return nil })
		mux := http.NewServeMux()
		mux.HandleFunc("POST "+eventPath, httpserverext.NewEventHandlerFunc(d))
		mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusOK) })
		h = mux
	default:
		fmt.Fprintf(os.Stderr, "okrbench: unknown -role %q (want %s or %s)\n", role, roleGinNoop, roleSDK)
		return 2
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "okrbench:", err)
		return 1
	}
	fmt.Printf("LISTEN %s\n", ln.Addr())
	srv := &http.Server{Handler: h, ReadHeaderTimeout: 5 * time.Second}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "okrbench:", err)
		return 1
	}
	return 0
}
