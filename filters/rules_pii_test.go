package filters

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestPIIRules(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []string // PII rules found
	}{
		// True positives.
		{"email", "write to jane.doe+news@mail.example.co.uk today", []string{"email"}},
		{"email in brackets", "<bob@corp.io>", []string{"email"}},
		{"e164", "call +44 20 7946 0958 now", []string{"phone"}},
		{"e164 compact", "+14155552671", []string{"phone"}},
		{"us parens", "(415) 555-2671", []string{"phone"}},
		{"us dashes", "my number 415-555-2671.", []string{"phone"}},
		{"us dots", "415.555.2671", []string{"phone"}},
		{"us with country", "1-415-555-2671", []string{"phone"}},
		{"spaces with context", "phone: 415 555 2671", []string{"phone"}},
		{"national with context", "Tel: 020 7946 0958", []string{"phone"}},
		{"visa spaced", "card 4111 1111 1111 1111 exp 12/29", []string{"payment-card"}},
		{"mastercard dashed", "5555-5555-5555-4444", []string{"payment-card"}},
		{"amex", "3782 822463 10005", []string{"payment-card"}},
		{"visa compact", "4012888888881881", []string{"payment-card"}},
		{"iban grouped", "IBAN DE89 3704 0044 0532 0130 00.", []string{"iban"}},
		{"iban compact", "GB82WEST12345698765432", []string{"iban"}},
		{"iban letters", "NL91 ABNA 0417 1643 00", []string{"iban"}},
		{"ssn", "SSN 078-05-1120", []string{"us-ssn"}},
		{"ssn without context", "id 219-09-9999 filed", []string{"us-ssn"}},
		{"ssn bare with context", "social security number: 219099999", []string{"us-ssn"}},
		{"ipv4", "connect to 8.8.4.4:53", []string{"ipv4"}},
		{"ipv4 private", "host 10.1.2.3", []string{"ipv4"}},
		{"ipv6", "addr 2001:4860:4860::8888 ok", []string{"ipv6"}},
		{"ipv6 full", "fd12:3456:789a:1:0:0:0:1", []string{"ipv6"}},
		{"mac", "ether 3c:22:fb:12:34:56 up", []string{"mac-address"}},
		{"quad of single digits near ip", "server ip 1.2.3.4", []string{"ipv4"}},
		{"mac dashed", "Physical Address: 3C-22-FB-1A-3D-5F", []string{"mac-address"}},
		{"iban lower case", "my iban is gb82west12345698765432", []string{"iban"}},
		{"iban lower case compact", "de89370400440532013000", []string{"iban"}},
		{"card jcb 15", "I have lost my card 180000826105910.", []string{"payment-card"}},
		{"card maestro 12 with context", "charge my debit card 501864667909 please", []string{"payment-card"}},
		{"phone grouped with label", "Phone: 0490 75 40 81", []string{"phone"}},
		{"phone short with call", "Can someone call me on 9472 7916?", []string{"phone"}},
		{"phone area code in parens", "(37) 788-063", []string{"phone"}},
		{"phone trunk zero", "+46 (0)8 928 571 38", []string{"phone"}},
		{"phone idd prefix", "001-518-640-0854 mobile", []string{"phone"}},
		{"phone label after", "416 60 039 office", []string{"phone"}},
		{"phone dotted pairs with label", "Mobile: 03.93.92.16.85", []string{"phone"}},

		// False positives.
		{"luhn fails", "order 4111 1111 1111 1112", nil},
		{"16 digits failing luhn", "1234567812345678 and 4000123412341235", nil},
		{"date", "2024-01-15 and 15.01.2024", nil},
		{"version", "version 1.2.3.4 and v10.0.0.1", nil},
		{"loopback", "127.0.0.1 and 0.0.0.0 and ::1", nil},
		{"doc ranges", "192.0.2.1 and 2001:db8::1", nil},
		{"bad octet", "300.1.2.3", nil},
		{"dotted long", "1.2.3.4.5", nil},
		{"cpp scope", "std::chrono::seconds a::b dead::beef", nil},
		{"time", "at 10:30:45 we met", nil},
		{"ssn invalid area", "SSN 666-12-3456, 000-12-3456, 912-12-3456", nil},
		{"ssn invalid group", "SSN 123-00-4567 and 123-45-0000", nil},
		{"nine digits alone", "invoice 219099999", nil},
		{"ten digits alone", "id 4155552671", nil},
		{"spaced digits alone", "415 555 2671", nil},
		{"iban bad check", "DE89 3704 0044 0532 0130 01", nil},
		{"image retina name", "icon@2x.png", nil},
		{"npm scope", "@types/node and @Override", nil},
		{"git remote", "git@github.com:org/repo.git", nil},
		{"zip plus four", "90210-1234", nil},
		{"unix time", "ts=1700000000123456789", nil},
		{"mac zero", "00:00:00:00:00:00", nil},
		{"uuid is no mac", "id d69e8db1-945f-47b0-ae03-e92ab251804f", nil},
		{"version after operator", "numpy==1.21.0.1 and pkg@2.1.0.3 and 1.2.3.4-beta", nil},
		{"version words", "firmware 10.2.0.15 and build 3.10.0.957", nil},
		{"single digit quad", "upgrade from 1.2.3.4 to 1.2.3.5", nil},
		{"first octet zero", "0.9.1.2", nil},
		{"grouped digits alone", "order 1234 5678 shipped, 1 000 000 people", nil},
		{"date and hour", "at 2015-12-22 04:34:22 we met", nil},
		{"maestro without context", "ref 501864667909", nil},
	}
	s := newTestScanner(t, Policy{Secrets: ActionAllow})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, fs := s.ScanText("srv", tt.text)
			got := rulesOf(fs, TypePII)
			if diff := cmp.Diff(tt.want, got); diff != "" {
				t.Errorf("PII rules (-want +got):\n%s", diff)
			}
		})
	}
}

func TestPIISpans(t *testing.T) {
	tests := []struct {
		text, want string
	}{
		{"call (415) 555-2671, thanks", "call [PHONE_1], thanks"},
		{"call +1 (415) 555-2671.", "call [PHONE_1]."},
		{"Fax: 345-899-3560x4587", "Fax: [PHONE_1]"},
		{"mail a@b.io.", "mail [EMAIL_1]."},
		{"4111-1111-1111-1111", "[CARD_1]"},
		{"iban DE89 3704 0044 0532 0130 00 end", "iban [IBAN_1] end"},
		{"[2001:4860:4860::8888]:443", "[[IP_1]]:443"},
	}
	s := newTestScanner(t, Policy{})
	for _, tt := range tests {
		t.Run(tt.text, func(t *testing.T) {
			got, _ := s.ScanText("srv", tt.text)
			if got != tt.want {
				t.Errorf("ScanText(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func TestLuhnAndMod97(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"4111111111111111", true},
		{"4111 1111 1111 1111", true},
		{"4111111111111112", false},
		{"79927398713", true},
		{"", false},
	} {
		if got := luhn(tt.in); got != tt.want {
			t.Errorf("luhn(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct {
		in   string
		want bool
	}{
		{"DE89370400440532013000", true},
		{"GB82WEST12345698765432", true},
		{"GB82WEST12345698765433", false},
		{"DE", false},
	} {
		if got := mod97([]byte(tt.in)); got != tt.want {
			t.Errorf("mod97(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}
