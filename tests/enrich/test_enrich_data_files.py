"""The gazetteer and taxonomy files load, are sane, and a malformed file fails naming the file and entry."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from pipeline.config import Settings
from pipeline.enrich import DataFileError, Gazetteer, Taxonomy
from pipeline.enrich.topics import REQUIRED_TOPICS

SETTINGS = Settings().enrich


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.load(SETTINGS.gazetteer_dir)


def test_shipped_gazetteer_loads(gazetteer: Gazetteer) -> None:
    codes = {c.code for c in gazetteer.countries}
    assert {"US", "RU", "CN", "GB", "FR", "JP", "IR", "IL", "UA", "KP", "SY", "SA", "TR", "SU", "XK"} <= codes
    orgs = {o.name: o for o in gazetteer.organizations}
    assert orgs["United Nations"].wikidata == "Q1065"
    assert orgs["Islamic State"].is_group
    leaders = {p.name: p for p in gazetteer.leaders}
    assert leaders["Vladimir Putin"].wikidata == "Q7747"
    assert leaders["Shinzo Abe"].wikidata == "Q132345"


def test_each_required_country_has_leaders_in_office_across_the_period(gazetteer: Gazetteer) -> None:
    from datetime import date

    for code in ("US", "RU", "CN", "GB", "FR", "DE", "JP", "IN", "IR", "IL", "UA", "KP", "SY", "SA", "TR", "BR"):
        for year in (2001, 2008, 2015, 2022):
            day = date(year, 6, 1)
            holders = [p for p in gazetteer.leaders if p.country == code and p.terms_on(day)]
            assert holders, f"no leader of {code} in office on {day}"


def test_shipped_taxonomy_has_every_required_topic(gazetteer: Gazetteer) -> None:
    taxonomy = Taxonomy.load(SETTINGS.taxonomy, gazetteer)
    ids = [t.id for t in taxonomy.topics]
    assert set(REQUIRED_TOPICS) <= set(ids)
    assert taxonomy.version
    for topic in taxonomy.topics:
        assert topic.definition and topic.include and topic.exclude


def _copy_gazetteer(tmp_path: Path) -> Path:
    target = tmp_path / "gazetteer"
    shutil.copytree(SETTINGS.gazetteer_dir, target)
    return target


def test_bad_country_code_names_file_and_entry(tmp_path: Path) -> None:
    directory = _copy_gazetteer(tmp_path)
    path = directory / "countries.yaml"
    path.write_text(path.read_text().replace("{code: JP, name: Japan", "{code: JPN, name: Japan"))
    with pytest.raises(DataFileError) as err:
        Gazetteer.load(directory)
    assert "countries.yaml" in str(err.value) and "(Japan)" in str(err.value)


def test_leader_office_ending_before_it_starts_fails(tmp_path: Path) -> None:
    directory = _copy_gazetteer(tmp_path)
    path = directory / "leaders.yaml"
    text = path.read_text().replace("start: 2019-07-24, end: 2022-09-06", "start: 2019-07-24, end: 2012-09-06")
    path.write_text(text)
    with pytest.raises(DataFileError) as err:
        Gazetteer.load(directory)
    assert "leaders.yaml" in str(err.value) and "Boris Johnson" in str(err.value)


def test_one_wikidata_id_on_two_leaders_fails(tmp_path: Path) -> None:
    directory = _copy_gazetteer(tmp_path)
    path = directory / "leaders.yaml"
    path.write_text(path.read_text().replace("{name: Dmitry Medvedev, wikidata: Q23530,",
                                             "{name: Dmitry Medvedev, wikidata: Q7747,"))
    with pytest.raises(DataFileError) as err:
        Gazetteer.load(directory)
    assert "leaders.yaml" in str(err.value) and "Q7747" in str(err.value) and "duplicate" in str(err.value)


def test_invalid_yaml_and_unknown_fields_fail(tmp_path: Path) -> None:
    directory = _copy_gazetteer(tmp_path)
    (directory / "groups.yaml").write_text("groups: [ {name: Hamas, names: [Hamas]\n")
    with pytest.raises(DataFileError, match="groups.yaml"):
        Gazetteer.load(directory)
    directory = _copy_gazetteer(tmp_path / "again")
    path = directory / "places.yaml"
    path.write_text(path.read_text().replace("{name: Crimea, names:", "{name: Crimea, sovereign: UA, names:"))
    with pytest.raises(DataFileError, match=r"places.yaml: places\[\d+\] \(Crimea\): unknown field"):
        Gazetteer.load(directory)


def _taxonomy_with(tmp_path: Path, old: str, new: str) -> Path:
    path = tmp_path / "taxonomy.yaml"
    text = SETTINGS.taxonomy.read_text()
    assert old in text
    path.write_text(text.replace(old, new, 1))
    return path


def test_malformed_taxonomy_names_file_and_entry(tmp_path: Path, gazetteer: Gazetteer) -> None:
    path = _taxonomy_with(tmp_path, '    cameo: ["16"]\n', '    cameo: ["99"]\n')
    with pytest.raises(DataFileError) as err:
        Taxonomy.load(path, gazetteer)
    assert "taxonomy.yaml" in str(err.value) and "(sanctions)" in str(err.value)

    path = _taxonomy_with(tmp_path, "  - id: cyber-espionage\n", "  - id: cyber\n")
    with pytest.raises(DataFileError, match="missing required topic ids"):
        Taxonomy.load(path, gazetteer)

    path = _taxonomy_with(tmp_path, "entities: [World Bank, International Monetary Fund]", "entities: [Wrold Bank]")
    with pytest.raises(DataFileError, match=r"development-aid.*'Wrold Bank' is not a gazetteer entity"):
        Taxonomy.load(path, gazetteer)


def test_errors_survive_pickling() -> None:
    import pickle

    err = DataFileError("x.yaml", "topics[1] (a)", "broken")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == str(err) and again.entry == "topics[1] (a)"


def test_missing_model_says_what_to_install() -> None:
    from pipeline.enrich import ModelMissing, load_nlp

    with pytest.raises(ModelMissing, match="scripts/ner/train.py"):
        load_nlp("no_such_spacy_model_package", 10_000)


def test_enrich_settings_come_from_the_one_settings_object(tmp_path: Path) -> None:
    from pipeline.config import load_settings

    settings = load_settings(
        environ={"CHANCERY_ENRICH_MAX_CHUNK_CHARS": "5000", "CHANCERY_ENRICH_TAXONOMY": str(tmp_path / "t.yaml")},
        config_file=None,
    )
    assert settings.enrich.max_chunk_chars == 5000
    assert settings.enrich.taxonomy == tmp_path / "t.yaml"
    assert Path(settings.enrich.model) == Path(__file__).resolve().parents[2] / "pipeline" / "data" / "ner"
