package httpproxy

import (
	"bytes"
	"strings"
	"testing"
)

// TestScrubRequestGolden runs whole browser requests, as Firefox 128 ESR
// and Chromium 126 on Linux send them to an HTTP proxy, through the policy
// and compares what the proxy would write to the eepsite. What stays the
// same between the two outputs is the point: only the site-chosen values
// (path, cookies) differ.
func TestScrubRequestGolden(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want string
	}{
		{
			name: "firefox",
			in: `GET http://forum.example.i2p/viewtopic.php?id=3 HTTP/1.1
Host: forum.example.i2p
User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8
Accept-Language: en-US,en;q=0.5
Accept-Encoding: gzip, deflate
Proxy-Authorization: Basic dXNlcjpwYXNz
Connection: keep-alive
Referer: http://forum.example.i2p/index.php?page=2
Cookie: sid=0123456789abcdef
Upgrade-Insecure-Requests: 1
DNT: 1
Sec-GPC: 1
Priority: u=0, i

`,
			want: `GET /viewtopic.php?id=3 HTTP/1.1
Host: forum.example.i2p
User-Agent: MYOB/6.66 (AN/ON)
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8
Accept-Encoding: gzip, deflate
Cookie: sid=0123456789abcdef
Priority: u=0, i
Referer: /index.php?page=2
Upgrade-Insecure-Requests: 1

`,
		},
		{
			name: "chromium",
			in: `GET http://shop.example.i2p/cart?item=7 HTTP/1.1
Host: shop.example.i2p
Proxy-Connection: keep-alive
Upgrade-Insecure-Requests: 1
User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,image/apng,*/*;q=0.8,application/signed-exchange;v=b3;q=0.7
Referer: http://links.example.i2p/
Accept-Encoding: gzip, deflate
Accept-Language: de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7
Cookie: cart=7

`,
			want: `GET /cart?item=7 HTTP/1.1
Host: shop.example.i2p
User-Agent: MYOB/6.66 (AN/ON)
Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8
Accept-Encoding: gzip, deflate
Cookie: cart=7
Upgrade-Insecure-Requests: 1

`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := readRequest(t, tt.in)
			if err := ScrubRequest(r, RequestOptions{}); err != nil {
				t.Fatal(err)
			}
			var out bytes.Buffer
			if err := r.Write(&out); err != nil {
				t.Fatal(err)
			}
			want := strings.ReplaceAll(tt.want, "\n", "\r\n")
			if out.String() != want {
				t.Errorf("scrubbed request:\n%s\nwant:\n%s", out.String(), want)
			}
		})
	}
}
