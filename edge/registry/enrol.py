"""Enrolment: photos to face templates in the registry (nothing stored of the photo unless configured)."""

from __future__ import annotations

from pathlib import Path

from edge.store import Store


class EnrolmentError(ValueError):
    """Photos that cannot be enrolled; the message names each file and why (``problems``: each said, marked
    for the console's catalog where it is)."""

    def __init__(self, problems: list):
        self.problems = list(problems)
        super().__init__("; ".join(str(p) for p in self.problems))


class Enroller:
    """Turns photos into templates with the configured face encoder; loads the models once."""

    def __init__(self, face_config=None, engine=None):
        """``engine``: an already loaded models.faces.FaceEngine to share (the daemon's)."""
        self.keep_photos = bool(face_config and face_config.keep_photos)
        if engine is None:
            from models.faces import FaceEngine, templates_of

            # The encoder that makes the configured encoder's templates: enrolling with ensemble-yunet loads
            # the ensemble's path only, not YuNet (models.faces.TEMPLATES_OF).
            encoder = templates_of(face_config.encoder if face_config else "default")
            engine = FaceEngine(encoder=encoder, detector=face_config.detector if face_config else "hog")
        self.engine = engine

    @property
    def encoder_name(self) -> str:
        """The encoder name templates are stored under (models.faces.FaceEncoder.templates)."""
        return self.engine.encoder.templates

    def template_for(self, photo: str | Path):
        """(template, jpeg-or-None) for one photo; EnrolmentError if it has no face or several."""
        from models.faces import PhotoRefused
        from models.images import ImageError, encode_jpeg, load_rgb

        try:
            rgb = load_rgb(photo)
            template = self.engine.enrolment_template(rgb, str(photo))
        except (ImageError, PhotoRefused) as exc:
            raise EnrolmentError([exc.said]) from None
        return template, (encode_jpeg(rgb) if self.keep_photos else None)

    def templates_for(self, photos: list[str | Path]) -> tuple[list, list[bytes]]:
        """Templates for every photo, or EnrolmentError listing every refused photo (nothing stored)."""
        templates, images, errors = [], [], []
        for photo in photos:
            try:
                template, jpeg = self.template_for(photo)
            except EnrolmentError as exc:
                errors += exc.problems
                continue
            templates.append(template)
            if jpeg is not None:
                images.append(jpeg)
        if errors:
            raise EnrolmentError(errors)
        return templates, images

    def enrol(self, store: Store, person_id: int, photos: list[str | Path]) -> list[int]:
        store.people.get(person_id)
        templates, images = self.templates_for(photos)
        return store.templates.add(person_id, self.encoder_name, templates, images)


def reconcile_encoder(store: Store, enroller: Enroller) -> dict:
    """Make sure everyone enrolled has templates of the encoder in use.

    People whose templates were all made by another encoder are re-enrolled from their stored photos
    when the operator kept them (``keep_photos``); the others are listed: they must come to the office
    with a photo (or use their QR pass) before the gate recognises their face again.
    """
    from models.images import ImageError, decode_image

    current = enroller.encoder_name
    people = store.templates.enrolled_people(current)
    reenrolled, must_reenrol = [], []
    for person in people:
        if person["current"]:
            continue
        photos = store.templates.photos(person["id"])
        templates = []
        for blob in photos:
            try:
                source = f"stored photo of person {person['id']}"
                templates.append(enroller.engine.enrolment_template(decode_image(blob), source))
            except (ImageError, ValueError):
                continue
        if templates:
            store.templates.add(person["id"], current, templates)
            reenrolled.append(person["id"])
        else:
            must_reenrol.append({"person_id": person["id"], "name": person["name"], "unit": person["unit"],
                                 "templates_from": person["encoders"]})
    return {"encoder": current, "reenrolled": reenrolled, "must_reenrol": must_reenrol}
