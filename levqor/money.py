"""Minor units and the amounts people read: "19.00 USD" is 1900 minor units, "500 JPY" is 500.
The one place that knows how many decimals a currency has: every app shows money through it.

The exponent of a currency (how many minor units to a major one) follows Stripe's lists: most
currencies have 2 decimals, the zero-decimal ones none, a few 3. Display strings are exact
(Decimal, never float)."""

from decimal import Decimal, InvalidOperation

# https://docs.stripe.com/currencies#zero-decimal and #three-decimal
ZERO_DECIMAL = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV",
                          "XAF", "XOF", "XPF"})
THREE_DECIMAL = frozenset({"BHD", "JOD", "KWD", "OMR", "TND"})


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
    """Decimal("19.5"), "usd" -> 1950. ValueError when it is not a number or has more decimals
    than the currency has (0.001 USD is not an amount of money)."""
    try:
        value = Decimal(str(amount).strip())
    except InvalidOperation as exc:
        raise ValueError(f"{amount!r} is not a number") from exc
    if not value.is_finite():
        raise ValueError(f"{amount!r} is not a number")
    exponent = currency_exponent(currency)
    minor = value.scaleb(exponent)
    if minor != minor.to_integral_value():
        raise ValueError(f"{currency.upper()} has {exponent} decimal places; {amount} has more")
    return int(minor)
