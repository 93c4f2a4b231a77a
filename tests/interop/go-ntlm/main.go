// winrm-ntlm-run: runs one command through github.com/masterzen/winrm with
// its NTLM transport (ClientNTLM over github.com/Azure/go-ntlmssp: the
// Negotiate handshake on every request, bodies not encrypted) and prints
//
//	STDOUT-B64 <base64 of stdout>
//	STDERR-B64 <base64 of stderr>
//	EXIT <exit code>
//	ERROR <error text, base64>        (only when Run returned an error)
//
// Usage: winrm-ntlm-run -host H -port P -user U -password PW COMMAND...
// Exit status: 0 when Run returned no error, 2 otherwise, 64 on bad usage.
package main

import (
	"bytes"
	"encoding/base64"
	"flag"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/masterzen/winrm"
)

func main() {
	host := flag.String("host", "127.0.0.1", "server host")
	port := flag.Int("port", 5985, "server port")
	user := flag.String("user", "", "user name (DOMAIN\\user or user)")
	password := flag.String("password", "", "password")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: winrm-ntlm-run [flags] COMMAND")
		os.Exit(64)
	}
	command := strings.Join(flag.Args(), " ")

	endpoint := winrm.NewEndpoint(*host, *port, false, false, nil, nil, nil, 120*time.Second)
	params := winrm.NewParameters("PT60S", "en-US", 153600)
	params.TransportDecorator = func() winrm.Transporter { return &winrm.ClientNTLM{} }
	client, err := winrm.NewClientWithParameters(endpoint, *user, *password, params)
	if err != nil {
		fmt.Printf("ERROR %s\n", base64.StdEncoding.EncodeToString([]byte(err.Error())))
		os.Exit(2)
	}
	var stdout, stderr bytes.Buffer
	code, err := client.Run(command, &stdout, &stderr)
	fmt.Printf("STDOUT-B64 %s\n", base64.StdEncoding.EncodeToString(stdout.Bytes()))
	fmt.Printf("STDERR-B64 %s\n", base64.StdEncoding.EncodeToString(stderr.Bytes()))
	fmt.Printf("EXIT %d\n", code)
	if err != nil {
		fmt.Printf("ERROR %s\n", base64.StdEncoding.EncodeToString([]byte(err.Error())))
		os.Exit(2)
	}
}
