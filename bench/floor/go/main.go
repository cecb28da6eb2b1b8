// The floor of the router's HTTP stack in Go: a bare proxy on fasthttp (server and HostClient, as the router uses
// them), with no routing, metrics, answer parse or admission. bench/profile_router.py runs it beside the router and
// nginx, so that the router's cost splits into its own work (router - this) and its runtime's (this - the Rust floor).
//
//	floor-go LISTEN UPSTREAM        e.g. floor-go 127.0.0.1:8081 http://127.0.0.1:8082
package main

import (
	"log"
	"os"
	"strings"
	"time"

	"github.com/valyala/fasthttp"
)

func main() {
	if len(os.Args) != 3 {
		log.Fatal("usage: floor-go LISTEN UPSTREAM")
	}
	address := strings.TrimPrefix(os.Args[2], "http://")
	upstream := &fasthttp.HostClient{Addr: address, MaxConns: 4096}
	handler := func(ctx *fasthttp.RequestCtx) {
		request, response := fasthttp.AcquireRequest(), fasthttp.AcquireResponse()
		defer fasthttp.ReleaseRequest(request)
		defer fasthttp.ReleaseResponse(response)
		request.Header.SetMethod(fasthttp.MethodPost)
		request.SetRequestURI("http://" + address + string(ctx.Path()))
		request.Header.SetContentTypeBytes(ctx.Request.Header.ContentType())
		request.SetBodyRaw(ctx.Request.Body())
		if err := upstream.DoDeadline(request, response, time.Now().Add(30*time.Second)); err != nil {
			ctx.Error(err.Error(), fasthttp.StatusBadGateway)
			return
		}
		ctx.SetStatusCode(response.StatusCode())
		ctx.SetContentTypeBytes(response.Header.ContentType())
		ctx.SetBody(response.Body())
	}
	log.Fatal((&fasthttp.Server{Handler: handler}).ListenAndServe(os.Args[1]))
}
