"""Minor units and the amounts people read: "19.00 USD" is 1900 minor units, "500 JPY" is 500.
The one place that knows how many decimals a currency has: every app shows money through it.

The exponent of a currency (how many minor units to a major one) follows Stripe's lists: most
currencies have 2 decimals, the zero-decimal ones none, a few 3. Display strings are exact
(Decimal, never float)."""

from decimal import Decimal, DecimalException

# https://docs.stripe.com/currencies#zero-decimal and #three-decimal
ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
                          "XAF", "XOF", "XPF"})
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})
# The currencies Stripe charges cards in (https://docs.stripe.com/currencies#presentment-currencies),
# lower-case as Stripe writes them: a listing's currency must be one of these.
STRIPE_CURRENCIES = frozenset("""
aed afn all amd ang aoa ars aud awg azn bam bbd bdt bgn bhd bif bmd bnd bob brl bsd bwp byn bzd cad cdf chf clp
cny cop crc cve czk djf dkk dop dzd egp etb eur fjd fkp gbp gel gip gmd gnf gtq gyd hkd hnl htg huf idr ils inr isk
jmd jod jpy kes kgs khr kmf krw kwd kyd kzt lak lbp lkr lrd lsl mad mdl mga mkd mmk mnt mop mur mvr mwk mxn myr mzn
nad ngn nio nok npr nzd omr pab pen pgk php pkr pln pyg qar ron rsd rub rwf sar sbd scr sek sgd shp sle sos srd std
szl thb tjs tnd top try ttd twd tzs uah ugx usd uyu uzs vnd vuv wst xaf xcd xof xpf yer zar zmw
""".split())
# An amount in minor units fits a 64-bit integer column with room to spare (Stripe's own limit is far lower).
MINOR_DIGITS_MAX = 18


def currency_exponent(currency: str) -> int:
    code = currency.upper()
    if code in ZERO_DECIMAL:
        return 0
    return 3 if code in THREE_DECIMAL else 2


def minor_to_major(amount_minor: int, currency: str) -> Decimal:
    """1900, "usd" -> Decimal("19.00")."""
    exponent = currency_exponent(currency)
    return (Decimal(int(amount_minor)) / (Decimal(10) ** exponent)).quantize(Decimal(1).scaleb(-exponent))


def minor_display(amount_minor: int, currency: str) -> str:
    """1900, "usd" -> "19.00"; -150 -> "-1.50"; 500, "jpy" -> "500"."""
    return str(minor_to_major(amount_minor, currency))


def major_to_minor(amount: Decimal | str, currency: str) -> int:
    """Decimal("19.5"), "usd" -> 1950. ValueError when it is not a number, has more decimals than
    the currency has (0.001 USD is not an amount of money; nor is 1e-999999999, which Decimal's
    arithmetic would round to 0) or more than MINOR_DIGITS_MAX digits in minor units (1e999999999
    overflowed Decimal's context: a 500). Worked out on the digits, exactly, with no context."""
    try:
        value = Decimal(str(amount).strip())
    except (DecimalException, ValueError) as exc:
        raise ValueError(f"{str(amount)[:40]!r} is not a number") from exc
    if not value.is_finite():
        raise ValueError(f"{str(amount)[:40]!r} is not a number")
    exponent = currency_exponent(currency)
    sign, raw_digits, power = value.as_tuple()
    text = "".join(map(str, raw_digits))
    digits = text.rstrip("0")
    if not digits:
        return 0
    power += len(text) - len(digits)  # the trailing zeros stripped: 19.500 has 1 decimal place
    if power < -exponent:
        raise ValueError(f"{currency.upper()} has {exponent} decimal places; {str(amount)[:40]} has more")
    if len(digits) + power + exponent > MINOR_DIGITS_MAX:
        raise ValueError(f"{str(amount)[:40]} is too large an amount")
    minor = int(digits) * 10 ** (power + exponent)
    return -minor if sign else minor
