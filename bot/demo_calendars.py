"""The calendars ``heedful demo`` connects through a sign-in, each against a fake of its
provider on this machine: ``--calendar google`` (:class:`GoogleDemo`, a
:class:`~bot.emulator.FakeGoogle`) and ``--calendar microsoft`` (:class:`MicrosoftDemo`, a
:class:`~bot.emulator.FakeMicrosoft`).

One small strategy per calendar kind; the flow is the demo's own (:mod:`bot.demo`) and the
same for both: start the fake on the demo's clock (:meth:`HostedCalendar.running`), give
the app its endpoints (:meth:`~HostedCalendar.settings`) and route Heedful's public
address ``https://heedful.test`` to the app's loopback port, as a reverse proxy would
(:meth:`~HostedCalendar.route`); load the sample week into the fake and hand the demo
Heedful's connect link, which it opens as the person's browser would
(:meth:`~HostedCalendar.connect`); while the days play, change a meeting in the fake
(:meth:`~HostedCalendar.apply`), announce the changes by one notification to Heedful's
hook (:meth:`~HostedCalendar.announce`), and run the periodic sync when the demo polls
(:meth:`~HostedCalendar.sync`). What a kind says in the demo's lines is in
``prompts/demo.toml`` under its :attr:`~HostedCalendar.kind`: ``demo.signin.<kind>`` and
``demo.change.<kind>.*``.

A feed (``--calendar ics``, the default) needs none of this: it is served and polled by
:mod:`bot.demo` itself.
"""

from __future__ import annotations

import os
import secrets
import tempfile
from abc import ABC, abstractmethod
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, ClassVar
from zoneinfo import ZoneInfo

# The public address Google, Microsoft and the browser use for Heedful (routed to the
# app's loopback port, as a reverse proxy would).
PUBLIC_URL = "https://heedful.test"
GOOGLE_CLIENT_ID = "heedful-demo.apps.googleusercontent.com"
MICROSOFT_CLIENT_ID = "5f1e9a2c-0b7d-4c3e-9a61-8d2f4b6c0e13"  # an Entra ID application id
# Where MSAL (requests) and Graph (httpx) look for the certificates they trust.
TRUST_VARIABLES = ("REQUESTS_CA_BUNDLE", "SSL_CERT_FILE")


@dataclass(frozen=True)
class Person:
    """The played person, as the calendar's account holds them."""

    team_id: str
    user_id: str
    email: str
    name: str
    tz: str

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.tz)


class HostedCalendar(ABC):
    """A calendar kind the demo connects through its provider's sign-in (module docstring).

    The fake runs only inside :meth:`running`; every other method is called inside it.
    """

    kind: ClassVar[str]  # the --calendar choice, and its words' key in prompts/demo.toml

    def __init__(self) -> None:
        self.fake: Any = None
        self.person: Person | None = None

    @abstractmethod
    def running(self, clock: Any) -> Any:
        """A context manager: the fake on loopback, on ``clock`` (a VirtualClock), with
        Heedful's OAuth client registered; changes are announced only by
        :meth:`announce`."""

    @abstractmethod
    def settings(self) -> dict[str, Any]:
        """The app's settings that point it at the fake (``bot.config.Settings`` fields)."""

    def route(self, app_url: str) -> None:
        """Deliver what the fake sends to Heedful's public address to the app."""
        self.fake.route(PUBLIC_URL, app_url)

    def connect(self, services: Any, person: Person, first_day: date, until: date) -> str:
        """The person's account in the fake, holding the sample week from ``first_day``
        (series long enough to reach ``until``); returns Heedful's link to connect it,
        the one Slack would show the person."""
        self.person = person
        self.fake.add_account(person.email, time_zone=person.tz, name=person.name)
        self._load(first_day, until)
        return self._link(services, team_id=person.team_id, user_id=person.user_id)

    @abstractmethod
    def _load(self, first_day: date, until: date) -> None: ...

    @abstractmethod
    def _link(self, services: Any, *, team_id: str, user_id: str) -> str: ...

    @abstractmethod
    def series_uid(self, sample_uid: str) -> str:
        """The ``uid`` Heedful stores for the instances of a sample series."""

    @abstractmethod
    def apply(self, change: Any) -> None:
        """Make a :class:`~bot.demo_week.SampleChange` in the fake, unannounced."""

    @abstractmethod
    def announce(self) -> bool:
        """Tell Heedful's hook about the changes made since the last time, in one
        notification; whether the app accepted it."""

    @abstractmethod
    def sync(self, app: Any) -> None:
        """The periodic sync ``heedful run`` schedules for this kind of calendar."""

    @property
    def email(self) -> str:
        if self.person is None:
            raise RuntimeError("connect() first")
        return self.person.email


class GoogleDemo(HostedCalendar):
    """Google Calendar: Google sign-in, push notifications to ``/hooks/google``, each
    series one recurring event (``bot.demo_week.load_into_google``)."""

    kind = "google"

    @contextmanager
    def running(self, clock: Any) -> Iterator[None]:
        from bot.emulator import FakeGoogle

        with FakeGoogle(clock=clock.now, auto_push=False) as fake:
            self.fake = fake
            self.secret = secrets.token_urlsafe(24)
            fake.add_client(GOOGLE_CLIENT_ID, self.secret, [f"{PUBLIC_URL}/oauth/google/callback"])
            yield

    def settings(self) -> dict[str, Any]:
        return {
            "public_url": PUBLIC_URL,
            "google_client_id": GOOGLE_CLIENT_ID,
            "google_client_secret": self.secret,
            "google_auth_uri": self.fake.auth_uri,
            "google_token_uri": self.fake.token_uri,
            "google_calendar_api_url": self.fake.calendar_api_url,
        }

    def _load(self, first_day: date, until: date) -> None:
        from bot.demo_week import load_into_google

        person = self.person
        assert person is not None
        load_into_google(self.fake, first_day, person.zone, person.email)

    def _link(self, services: Any, *, team_id: str, user_id: str) -> str:
        from bot.sync import google

        return google.connect_link(services, team_id=team_id, user_id=user_id)

    def series_uid(self, sample_uid: str) -> str:
        from bot.demo_week import google_event_id

        return google_event_id(sample_uid)

    def apply(self, change: Any) -> None:
        from bot.demo_week import google_instance_id

        instance = google_instance_id(change.uid, change.original)
        if change.moved_to is None:
            self.fake.cancel_event(self.email, instance)
        else:
            self.fake.move_event(self.email, instance, change.moved_to)

    def announce(self) -> bool:
        return all(d.status == 200 for d in self.fake.push(self.email))

    def sync(self, app: Any) -> None:
        app.sync_google()


class MicrosoftDemo(HostedCalendar):
    """Outlook (Microsoft 365): Microsoft sign-in (MSAL), change notifications to
    ``/hooks/microsoft`` followed by a delta sync, each series one weekly series of Graph
    (``bot.demo_week.load_into_microsoft``). The fake speaks HTTPS only, with a
    self-signed certificate the demo's process trusts while it runs (:func:`trusting`)."""

    kind = "microsoft"

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}  # sample uid -> Graph id (a series master's)

    @contextmanager
    def running(self, clock: Any) -> Iterator[None]:
        from bot.emulator import FakeMicrosoft

        with FakeMicrosoft(clock=clock.now, auto_notify=False) as fake, trusting(fake.ca_file):
            self.fake = fake
            self.secret = secrets.token_urlsafe(24)
            fake.add_client(
                MICROSOFT_CLIENT_ID, self.secret, [f"{PUBLIC_URL}/oauth/microsoft/callback"]
            )
            yield

    def settings(self) -> dict[str, Any]:
        return {
            "public_url": PUBLIC_URL,
            "microsoft_client_id": MICROSOFT_CLIENT_ID,
            "microsoft_client_secret": self.secret,
            "microsoft_authority_url": self.fake.authority_url,
            "microsoft_graph_url": self.fake.graph_url,
        }

    def _load(self, first_day: date, until: date) -> None:
        from bot.demo_week import load_into_microsoft

        person = self.person
        assert person is not None
        self.ids = load_into_microsoft(self.fake, first_day, person.zone, person.email, until=until)

    def _link(self, services: Any, *, team_id: str, user_id: str) -> str:
        from bot.sync import microsoft

        return microsoft.connect_link(services, team_id=team_id, user_id=user_id)

    def series_uid(self, sample_uid: str) -> str:
        return self.ids[sample_uid]  # an instance's uid is its seriesMasterId

    def apply(self, change: Any) -> None:
        from bot.demo_week import microsoft_instance_id

        instance = microsoft_instance_id(
            self.fake, self.email, self.ids[change.uid], change.original
        )
        if change.moved_to is None:
            self.fake.cancel_event(self.email, instance)
        else:
            self.fake.move_event(self.email, instance, change.moved_to)

    def announce(self) -> bool:
        return all(d.status == 202 for d in self.fake.notify(self.email))

    def sync(self, app: Any) -> None:
        app.sync_microsoft()


HOSTED: dict[str, type[HostedCalendar]] = {"google": GoogleDemo, "microsoft": MicrosoftDemo}


def hosted_calendar(kind: str) -> HostedCalendar | None:
    """The strategy for a ``--calendar`` choice; None for a feed (``ics``)."""
    found = HOSTED.get(kind)
    return found() if found is not None else None


@contextmanager
def trusting(ca_file: str) -> Iterator[None]:
    """This process trusts the certificate in ``ca_file`` besides its usual ones, until
    the block ends; then the environment is as it was.

    Why the environment: the fake Microsoft is HTTPS only (MSAL insists on an ``https://``
    authority) with a certificate made when it starts, and the clients that must trust it
    are deep inside the app: MSAL's ``requests`` reads ``REQUESTS_CA_BUNDLE`` on every
    request (``Session.merge_environment_settings``), and httpx reads ``SSL_CERT_FILE`` when
    a client is made (``bot.sync.microsoft._http`` keys its client on that variable, so the
    app never reuses a client made with another trust store; the demo's own browser is
    httpx too). That is how the tests point the real app at the fake as well
    (``tests/calendars/test_microsoft.py``). The demo starts no other process, and the
    variables are set only around the fake's life (the app starts after and stops
    before), so ``--calendar ics`` and ``google`` never see them.

    Why a bundle rather than the certificate alone: either variable *replaces* the
    client's trust store, so with the fake's certificate alone nothing else on https
    (``--slack-api-url https://…``) could be reached. The bundle is what the process
    trusted before (a ``REQUESTS_CA_BUNDLE``/``SSL_CERT_FILE`` already set, else
    certifi's, the default of requests and httpx) plus the fake's certificate.
    """
    import certifi

    saved = {name: os.environ.get(name) for name in TRUST_VARIABLES}
    before = next((v for v in saved.values() if v and Path(v).is_file()), certifi.where())
    with tempfile.TemporaryDirectory(prefix="heedful-demo-ca-") as tmp:
        bundle = Path(tmp) / "trusted.pem"
        pems = [Path(before).read_text(encoding="utf-8"), Path(ca_file).read_text("utf-8")]
        bundle.write_text("\n".join(pems), encoding="utf-8")
        os.environ.update(dict.fromkeys(TRUST_VARIABLES, str(bundle)))
        try:
            yield
        finally:
            for name, value in saved.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def original_id(moment: datetime) -> str:
    """How Heedful stores the original start of a changed instance (``recurrence_id``):
    UTC, ``2026-03-25T15:00:00Z``, for Google as for Microsoft."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
