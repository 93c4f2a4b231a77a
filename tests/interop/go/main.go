// winrm-run: runs one command through github.com/masterzen/winrm (the Go
// WinRM client Debian packages as golang-github-masterzen-winrm-dev) and
// prints what came back in a form the pytest side parses:
//
//	STDOUT-B64 <base64 of stdout>
//	STDERR-B64 <base64 of stderr>
//	EXIT <exit code>
//	ERROR <error text, base64>        (only when Run* returned an error)
//
// Usage: winrm-run -host H -port P -user U -password PW [-input]
//
//	[-timeout PT60S] COMMAND...
//
// With -input the command runs through Client.RunWithInput with this
// program's own stdin (read to the end, then the remote stdin is closed);
// otherwise through Client.Run. The words of COMMAND are joined with spaces.
// Exit status: 0 when the client call returned no error, 2 otherwise, 64 on
// bad usage.
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
	user := flag.String("user", "", "user name")
	password := flag.String("password", "", "password")
	useInput := flag.Bool("input", false, "RunWithInput with this program's stdin")
	timeout := flag.String("timeout", "PT60S", "OperationTimeout (xs:duration)")
	flag.Parse()
	if flag.NArg() < 1 {
		fmt.Fprintln(os.Stderr, "usage: winrm-run [flags] COMMAND")
		os.Exit(64)
	}
	command := strings.Join(flag.Args(), " ")

	endpoint := winrm.NewEndpoint(*host, *port, false, false, nil, nil, nil, 120*time.Second)
	params := winrm.NewParameters(*timeout, "en-US", 153600)
	client, err := winrm.NewClientWithParameters(endpoint, *user, *password, params)
	if err != nil {
		fmt.Printf("ERROR %s\n", base64.StdEncoding.EncodeToString([]byte(err.Error())))
		os.Exit(2)
	}

	var stdout, stderr bytes.Buffer
	var code int
	if *useInput {
		code, err = client.RunWithInput(command, &stdout, &stderr, os.Stdin)
	} else {
		code, err = client.Run(command, &stdout, &stderr)
	}
	fmt.Printf("STDOUT-B64 %s\n", base64.StdEncoding.EncodeToString(stdout.Bytes()))
	fmt.Printf("STDERR-B64 %s\n", base64.StdEncoding.EncodeToString(stderr.Bytes()))
	fmt.Printf("EXIT %d\n", code)
	if err != nil {
		fmt.Printf("ERROR %s\n", base64.StdEncoding.EncodeToString([]byte(err.Error())))
		os.Exit(2)
	}
}
